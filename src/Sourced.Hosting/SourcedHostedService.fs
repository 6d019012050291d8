namespace Sourced.Hosting

open System
open System.Threading
open System.Threading.Tasks
open Microsoft.Extensions.DependencyInjection
open Microsoft.Extensions.Hosting
open Microsoft.Extensions.Logging
open Microsoft.Extensions.Options
open Sourced

/// Runs the runtime in the generic host: prepares the store (installs or checks its schema) and starts the workers when the
/// host starts; when it stops (SIGTERM, Ctrl+C, `StopApplication`), stops them gracefully: batches in flight
/// finish, unless the host's shutdown timeout runs out first.
[<Sealed>]
type internal SourcedHostedService
    (services: IServiceProvider, reactors: SourcedReactors, options: IOptions<SourcedOptions>, loggers: ILoggerFactory)
    =
    let hostLog = loggers.CreateLogger "Sourced.Hosting"
    let runtimeLog = loggers.CreateLogger RuntimeLog.Category
    let mutable running: Runtime = Unchecked.defaultof<Runtime>
    let mutable subscription: IDisposable = null

    let noReactors =
        LoggerMessage.Define(
            LogLevel.Warning,
            EventId(SourcedEventIds.NoReactors, "NoReactors"),
            "No reactor was added to AddSourced: no worker runs in this process"
        )

    interface IHostedService with
        member _.StartAsync(ct: CancellationToken) : Task =
            task {
                let settings = options.Value

                let provider = StoreProviders.chosen services settings
                do! provider.PrepareAsync(services.GetRequiredService<IMessageStore>(), settings, services, ct)

                if reactors.All.IsEmpty then
                    noReactors.Invoke(hostLog, null)
                else
                    let runtime = services.GetRequiredService<Runtime>()
                    subscription <- runtime.Subscribe(RuntimeLog.write runtimeLog)
                    running <- runtime
                    do! runtime.StartAsync ct
            }

        member _.StopAsync(ct: CancellationToken) : Task =
            task {
                if not (isNull (box running)) then
                    // NOTE: `ct` fires when the host's shutdown timeout runs out: only then are batches aborted.
                    do! running.StopAsync ct
                    subscription.Dispose()
            }
