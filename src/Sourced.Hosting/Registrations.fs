namespace Sourced.Hosting

open System
open System.Collections.Generic
open Sourced

/// What `AddSourced` was told in code: the reactors and changes to the runtime's options.
[<Sealed>]
type internal Registrations() =
    /// Reactor factories, in registration order.
    member val Reactors = ResizeArray<IServiceProvider -> Reactor>()

    /// Changes to the runtime's options that configuration cannot express (error strategies).
    member val RuntimeChanges = ResizeArray<RuntimeOptions -> RuntimeOptions>()

    /// Error strategies of single consumer groups, by group.
    member val GroupStrategies = Dictionary<string, ErrorStrategy>()

/// The reactors of this host, created once from their registrations.
[<Sealed; AllowNullLiteral>]
type internal SourcedReactors(registrations: Registrations, services: IServiceProvider) =
    let reactors =
        lazy
            [
                for create in registrations.Reactors do
                    let reactor = create services

                    if isNull (box reactor) then
                        invalidOp "A reactor factory given to SourcedBuilder.Add returned null."

                    reactor
            ]

    member _.All: Reactor list = reactors.Value
