using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Sourced.CSharp.Tests;

/// One captured log entry.
public sealed record LogEntry(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception);

/// A logger provider that keeps every entry, and lets a test wait for one (a signal, not a sleep).
public sealed class TestLogs : ILoggerProvider
{
    readonly object gate = new();
    readonly List<LogEntry> entries = [];
    readonly List<(Func<LogEntry, bool> Match, TaskCompletionSource<LogEntry> Found)> waiters = [];

    public IReadOnlyList<LogEntry> Entries
    {
        get { lock (gate) return entries.ToList(); }
    }

    /// The entries with this event id.
    public IReadOnlyList<LogEntry> WithId(int eventId) => Entries.Where(e => e.EventId.Id == eventId).ToList();

    /// The first entry (already logged or to come) that matches; fails after `timeout` (default 30 s).
    public async Task<LogEntry> WaitForAsync(Func<LogEntry, bool> match, TimeSpan? timeout = null)
    {
        var found = new TaskCompletionSource<LogEntry>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (gate)
        {
            var logged = entries.FirstOrDefault(match);
            if (logged is not null) return logged;
            waiters.Add((match, found));
        }

        var limit = timeout ?? TimeSpan.FromSeconds(30);
        try
        {
            return await found.Task.WaitAsync(limit);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"No matching log entry within {limit}. Logged:\n" +
                string.Join("\n", Entries.Select(e => $"  {e.EventId.Id} {e.Level} {e.Category}: {e.Message}")));
        }
    }

    /// The first entry with this event id.
    public Task<LogEntry> WaitForAsync(int eventId, TimeSpan? timeout = null) =>
        WaitForAsync(e => e.EventId.Id == eventId, timeout);

    void Add(LogEntry entry)
    {
        List<TaskCompletionSource<LogEntry>> matched;
        lock (gate)
        {
            entries.Add(entry);
            matched = waiters.Where(w => w.Match(entry)).Select(w => w.Found).ToList();
            waiters.RemoveAll(w => matched.Contains(w.Found));
        }

        foreach (var found in matched) found.TrySetResult(entry);
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose() { }

    sealed class Logger(TestLogs logs, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter) =>
            logs.Add(new LogEntry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
