using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Sourced.Hosting;
using Xunit;

namespace Sourced.CSharp.Tests;

/// What C# users see of Sourced.CSharp and Sourced.Hosting: no F# types, no ambiguous names.
public class SurfaceTests
{
    static readonly Assembly Facade = typeof(EventStore).Assembly;
    static readonly Assembly Hosting = typeof(SourcedBuilder).Assembly;
    static readonly Assembly PostgresHosting = typeof(PostgresBuilderExtensions).Assembly;

    /// The members marked [EditorBrowsable(Never)]: F# interop points that C# users don't see. A new one must be
    /// added here on purpose.
    static readonly string[] HiddenInterop =
    [
        "constructor Sourced.CSharp.EventStore..ctor(IMessageStore)",
        "property Sourced.CSharp.Actor`1.Core",
        "method Sourced.Hosting.SourcedBuilder.AddReactor(Func`2)",
        "method Sourced.Hosting.SourcedBuilder.AddReactor(Reactor)",
        "method Sourced.Hosting.SourcedBuilder.ConfigureRuntime(Func`2)",
        "property Sourced.CSharp.Envelope.Message",
        "property Sourced.CSharp.ErrorPolicy.Strategy",
        "property Sourced.CSharp.EventStore.Store",
        "property Sourced.CSharp.Projector`1.Core",
        "property Sourced.CSharp.ReactorDefinition.Reactor",
        "property Sourced.CSharp.Workflow`2.Definition",
        "method Sourced.Hosting.SourcedBuilder.UseErrorStrategy(String, ErrorStrategy)",
    ];

    [Fact]
    public void The_public_surface_of_Sourced_CSharp_and_Sourced_Hosting_exposes_no_FSharp_Core_type()
    {
        var (leaks, _) = PublicSurface.Check([Facade, Hosting, PostgresHosting]);

        Assert.True(leaks.Count == 0,
            $"{leaks.Count} places show FSharp.Core types to C# (mark F# interop members " +
            $"[EditorBrowsable(EditorBrowsableState.Never)] or use BCL types):\n" + string.Join("\n", leaks));
    }

    [Fact]
    public void The_hidden_FSharp_interop_members_are_exactly_the_known_ones()
    {
        var (_, hidden) = PublicSurface.Check([Facade, Hosting, PostgresHosting]);

        var unlisted = hidden.Except(HiddenInterop).ToList();
        var gone = HiddenInterop.Except(hidden).ToList();
        Assert.True(unlisted.Count == 0 && gone.Count == 0,
            "The hidden interop members changed; update HiddenInterop if that was meant.\n" +
            $"Hidden but not listed:\n  {string.Join("\n  ", unlisted.DefaultIfEmpty("(none)"))}\n" +
            $"Listed but no longer hidden:\n  {string.Join("\n  ", gone.DefaultIfEmpty("(none)"))}");
    }

    [Fact]
    public void The_surface_walk_finds_FSharp_Core_types_wherever_they_hide()
    {
        // The check itself, on a type made to leak in every position it looks at.
        var (leaks, hidden) = PublicSurface.Check([typeof(Leaky).Assembly]);
        var mine = leaks.Where(l => l.Where.StartsWith(typeof(Leaky).FullName!)).Select(l => l.Where).ToList();

        Assert.Contains(mine, w => w.EndsWith("base type"));
        Assert.Contains(mine, w => w.EndsWith("interface"));
        Assert.Contains(mine, w => w.Contains("..ctor(") && w.EndsWith("parameter 'list'"));
        Assert.Contains(mine, w => w.Contains(".Array(") && w.EndsWith("returns"));
        Assert.Contains(mine, w => w.Contains(".ByRef(") && w.EndsWith("parameter 'value'"));
        Assert.Contains(mine, w => w.Contains(".Constrained<T>(") && w.EndsWith("type parameter T"));
        Assert.Contains(mine, w => w.Contains(".Nested(") && w.EndsWith("returns"));
        Assert.Contains(mine, w => w.EndsWith(".Property property"));
        Assert.Contains(mine, w => w.EndsWith(".Field field"));
        Assert.Contains(mine, w => w.EndsWith(".Changed event"));
        Assert.Contains(mine, w => w.Contains(".Protected(") && w.EndsWith("returns"));
        Assert.DoesNotContain(mine, w => w.Contains("Private"));
        Assert.DoesNotContain(mine, w => w.Contains("Interop"));
        Assert.Contains($"method {typeof(Leaky).FullName}.Interop()", hidden);
    }

    [Fact]
    public void No_public_type_of_namespace_Sourced_CSharp_has_the_name_and_arity_of_a_public_type_of_namespace_Sourced()
    {
        var assemblies = SourcedAssemblies();
        var plain = assemblies.SelectMany(a => a.GetExportedTypes())
            .Where(t => !t.IsNested && t.Namespace == "Sourced")
            .ToLookup(t => t.Name);
        var facade = assemblies.SelectMany(a => a.GetExportedTypes())
            .Where(t => !t.IsNested && t.Namespace == "Sourced.CSharp")
            .ToList();

        Assert.True(plain.Count > 10, $"only {plain.Count} public type names in namespace Sourced");
        Assert.Contains(facade, t => t == typeof(EventStore));
        var clashes = facade.Where(t => plain.Contains(t.Name))
            .Select(t => $"{t.FullName} ({t.Assembly.GetName().Name}) and " +
                         string.Join(", ", plain[t.Name].Select(p => $"{p.FullName} ({p.Assembly.GetName().Name})")))
            .ToList();
        Assert.True(clashes.Count == 0,
            "`using Sourced; using Sourced.CSharp;` would be ambiguous for:\n" + string.Join("\n", clashes));
    }

    /// Every Sourced library next to the tests (the four packages at least).
    static List<Assembly> SourcedAssemblies()
    {
        var found = Directory.GetFiles(AppContext.BaseDirectory, "Sourced.*.dll")
            .Select(path => Path.GetFileNameWithoutExtension(path))
            .Where(name => name != typeof(SurfaceTests).Assembly.GetName().Name)
            .Select(name => Assembly.Load(new AssemblyName(name)))
            .ToList();
        foreach (var expected in new[] { "Sourced.Core", "Sourced.Postgres", "Sourced.Hosting", "Sourced.CSharp" })
            Assert.Contains(found, a => a.GetName().Name == expected);
        return found;
    }
}
