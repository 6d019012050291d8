namespace Sourced

open System
open System.Threading
open System.Threading.Tasks

/// One `on` clause of a handler.
[<NoEquality; NoComparison>]
type HandlerCase =
    {
        /// The message types it handles.
        Types: string list
        /// Whether it is given the stream's whole history (`Handler.onWithHistory`).
        NeedsHistory: bool
        /// The messages to send for one message, given the stream's history (empty unless needed).
        Run: Pending -> Message list -> CancellationToken -> Task<Dispatch<NoCommand> list>
    }

/// Handlers: the lightest reactor, `on` some message types → new messages.
// NOTE: compiled as HandlerModule so that C# code can import Sourced and Sourced.CSharp together.
[<RequireQualifiedAccess; CompilationRepresentation(CompilationRepresentationFlags.ModuleSuffix)>]
module Handler =

    let private received (codec: Codec<'T>) (pending: Pending) =
        {
            Value = Codec.decode codec pending.Message
            Message = pending.Message
            Replaying = pending.Replaying
        }

    /// Handles the codec's types (narrow it with `Codec.only`); returns messages to send.
    let on (codec: Codec<'T>) (handle: Received<'T> -> Dispatch<NoCommand> list) : HandlerCase =
        {
            Types = Codec.types codec
            NeedsHistory = false
            Run = fun pending _ _ -> Task.FromResult(handle (received codec pending))
        }

    /// Like `on`, also given the stream's whole history.
    let onWithHistory
        (codec: Codec<'T>)
        (handle: Received<'T> -> Message list -> Dispatch<NoCommand> list)
        : HandlerCase =
        {
            Types = Codec.types codec
            NeedsHistory = true
            Run = fun pending history _ -> Task.FromResult(handle (received codec pending) history)
        }

    /// Like `on`, for handlers that do IO (call an API, send an email).
    let onTask
        (codec: Codec<'T>)
        (handle: Received<'T> -> CancellationToken -> Task<Dispatch<NoCommand> list>)
        : HandlerCase =
        {
            Types = Codec.types codec
            NeedsHistory = false
            Run = fun pending _ ct -> handle (received codec pending) ct
        }

    /// A handler reactor made of `on` clauses; every clause covering a message's type runs, in order.
    let create (group: string) (cases: HandlerCase list) : Reactor =
        if String.IsNullOrWhiteSpace group then
            invalidArg (nameof group) "A handler needs a group id."

        if List.isEmpty cases then
            invalidArg (nameof cases) $"Handler '{group}' has no 'on' clauses."

        let handle (batch: Batch) (ct: CancellationToken) =
            task {
                let handled = ResizeArray<Handled>()
                let mutable failure = None

                for pending in batch.Messages do
                    if failure.IsNone then
                        try
                            let mutable actions = []

                            for case in cases do
                                if List.contains pending.Message.Type case.Types then
                                    let! dispatches = case.Run pending batch.History ct
                                    actions <- actions @ Interpreter.dispatches batch pending.Message dispatches

                            handled.Add
                                {
                                    Message = pending.Message
                                    Actions = actions
                                }
                        with error ->
                            failure <- Some(pending.Message, error)

                return
                    {
                        Handled = List.ofSeq handled
                        Failure = failure
                    }
            }

        {
            Group = group
            Types = cases |> List.collect (fun case -> case.Types) |> List.distinct
            Commands = []
            NeedsHistory = cases |> List.exists (fun case -> case.NeedsHistory)
            BatchSize = None
            StartFrom = StartFrom.Beginning
            Handle = handle
        }
