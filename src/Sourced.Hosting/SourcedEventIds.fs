namespace Sourced.Hosting

/// The event ids of Sourced's log messages: stable, so that alerts and filters can rely on them.
/// Category "Sourced.Runtime" for what the runtime reports, "Sourced.Hosting" for the host's own steps.
[<RequireQualifiedAccess>]
module SourcedEventIds =
    /// Information: the workers started.
    [<Literal>]
    let RuntimeStarted = 5000

    /// Information: a stop began; batches in flight finish, no new one is taken.
    [<Literal>]
    let RuntimeStopping = 5001

    /// Information: every worker has stopped.
    [<Literal>]
    let RuntimeStopped = 5002

    /// Debug: a consumer group processed a batch of one stream.
    [<Literal>]
    let BatchCompleted = 5010

    /// Debug: a batch met a concurrent append; it runs again on fresh history.
    [<Literal>]
    let Conflicted = 5011

    /// Warning: a batch's claim expired before it completed; its effects were not stored, another worker redoes it.
    [<Literal>]
    let ClaimLost = 5012

    /// Warning: a consumer group failed and will retry at a later time.
    [<Literal>]
    let Retrying = 5013

    /// Error: a consumer group failed and stopped; it waits until someone starts it again.
    [<Literal>]
    let GroupStopped = 5014

    /// Debug: due scheduled messages were promoted into their streams.
    [<Literal>]
    let Promoted = 5020

    /// Warning: the claims of silent workers were freed for others.
    [<Literal>]
    let Reclaimed = 5021

    /// Warning: the store could not be reached, or a callback failed; the runtime carries on.
    [<Literal>]
    let Trouble = 5030

    /// Information: the PostgreSQL schema was installed or upgraded at start-up.
    [<Literal>]
    let SchemaInstalled = 5100

    /// Warning: no reactor was registered, so no worker runs in this process.
    [<Literal>]
    let NoReactors = 5101
