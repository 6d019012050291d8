namespace Sourced.CSharp

open System
open System.Collections.Generic
open System.Threading
open System.Threading.Tasks
open Sourced

/// A handler: the lightest reactor. `new Handler("emails").On<ItemAdded>(Carts.Actor, async (e, envelope, ct) => ...)`
/// runs for each message of the named classes (another actor's commands or events), in stream order, and can
/// send commands to actors with `Dispatch.ToActor`. Immutable: `On` returns a new handler.
[<Sealed>]
type Handler private (group: string, cases: HandlerCase list) =
    inherit ReactorDefinition(group, lazy (Sourced.Handler.create group cases))

    /// A handler with no `On` clauses yet; the group is its consumer group.
    new(group: string) =
        if String.IsNullOrWhiteSpace group then
            invalidArg (nameof group) "A handler needs a group id."

        Handler(group, [])

    member private _.Add(case: HandlerCase) = Handler(group, cases @ [ case ])

    /// Handles a message class of `source`, doing IO, and sends what it returns.
    member this.On<'Message>
        (source: ActorDefinition, handle: Func<'Message, Envelope, CancellationToken, Task<IEnumerable<Dispatch>>>)
        : Handler =
        if isNull source then
            nullArg (nameof source)

        if isNull handle then
            nullArg (nameof handle)

        this.Add(
            Sourced.Handler.onTask (source.CodecOf typeof<'Message>) (fun received ct ->
                task {
                    let! dispatches =
                        handle.Invoke(unbox<'Message> received.Value, Envelope received.Message, ct)

                    return Dispatches.forReactor $"handler '{group}'" dispatches
                })
        )

    /// Handles a message class of `source`, doing IO, and sends nothing.
    member this.On<'Message>
        (source: ActorDefinition, handle: Func<'Message, Envelope, CancellationToken, Task>)
        : Handler =
        if isNull handle then
            nullArg (nameof handle)

        this.On<'Message>(
            source,
            Func<'Message, Envelope, CancellationToken, Task<IEnumerable<Dispatch>>>(fun message envelope ct ->
                task {
                    do! handle.Invoke(message, envelope, ct)
                    return Seq.empty<Dispatch>
                })
        )

    /// Handles a message class of `source` without IO: the commands to send.
    member this.On<'Message>
        (source: ActorDefinition, handle: Func<'Message, Envelope, IEnumerable<Dispatch>>)
        : Handler =
        if isNull handle then
            nullArg (nameof handle)

        this.On<'Message>(
            source,
            Func<'Message, Envelope, CancellationToken, Task<IEnumerable<Dispatch>>>(fun message envelope _ ->
                Task.FromResult(handle.Invoke(message, envelope)))
        )
