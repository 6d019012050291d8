/// A todo list actor in the spirit of the Ruby actor spec: reactions to other streams and scheduling.
/// The Core tests and the runtime suite share it.
module Sourced.Tests.Todo

open System
open Sourced

type Command =
    | Start of name: string
    | AddItem of text: string
    | Notify of text: string

type Event =
    | Started of name: string
    | ItemAdded of text: string
    | Notified of text: string

type State =
    {
        Name: string
        Items: string list
        Active: bool
    }

let initial _ =
    {
        Name = ""
        Items = []
        Active = false
    }

let decide state command =
    match command with
    | Start _ when state.Active -> reject $"list {state.Name} already started"
    | Start name -> [ Started name ]
    | AddItem text when not state.Active -> [ Started "untitled"; ItemAdded text ]
    | AddItem text -> [ ItemAdded text ]
    | Notify text -> [ Notified text ]

let evolve state event =
    match event with
    | Started name ->
        { state with
            Name = name
            Active = true
        }
    | ItemAdded text ->
        { state with
            Items = state.Items @ [ text ]
        }
    | Notified _ -> state

let react state event =
    match event with
    | Started name ->
        [
            Dispatch.command (Notify $"started {name}") |> Dispatch.toStream "notifications"
            Dispatch.command (Notify "reminder")
            |> Dispatch.after (TimeSpan.FromSeconds 30.0)
        ]
    | ItemAdded _ -> [ Dispatch.command (Notify $"{state.Items.Length} items") ]
    | Notified _ -> []

let actor =
    Actor.create "todos" initial decide evolve
    |> Actor.reacts [ nameof Started; nameof ItemAdded ] react
