module Sourced.Tests.ErrorStrategyTests

open System
open Expecto
open Sourced
open Sourced.Tests.Support

let failure attempt =
    {
        Group = "g"
        Message = Message.create "s" "t" Json.emptyObject
        Error = TimeoutException "slow"
        Attempt = attempt
        At = fixedNow
    }

let decisions (strategy: ErrorStrategy) =
    [ 1..4 ] |> List.map (fun attempt -> strategy.Decide(failure attempt))

let tests =
    testList
        "error strategies"
        [
            testCase "the default stops at the first failure"
            <| fun _ -> Expect.equal (ErrorStrategy.stop.Decide(failure 1)) Recovery.Stop "stop"

            testCase "retry waits after, 2 × after, 3 × after, then stops"
            <| fun _ ->
                Expect.equal
                    (decisions (ErrorStrategy.retry 3 (TimeSpan.FromSeconds 5.0)))
                    [
                        Recovery.RetryAt(fixedNow.AddSeconds 5.0)
                        Recovery.RetryAt(fixedNow.AddSeconds 10.0)
                        Recovery.RetryAt(fixedNow.AddSeconds 15.0)
                        Recovery.Stop
                    ]
                    "linear"

            testCase "exponential retries double the wait"
            <| fun _ ->
                Expect.equal
                    (decisions (ErrorStrategy.retryExponentially 3 (TimeSpan.FromSeconds 1.0)))
                    [
                        Recovery.RetryAt(fixedNow.AddSeconds 1.0)
                        Recovery.RetryAt(fixedNow.AddSeconds 2.0)
                        Recovery.RetryAt(fixedNow.AddSeconds 4.0)
                        Recovery.Stop
                    ]
                    "exponential"

            testCase "a custom backoff and a custom decision are used as given"
            <| fun _ ->
                let constant =
                    ErrorStrategy.retryWith 1 (TimeSpan.FromSeconds 3.0) (fun after _ -> after)

                Expect.equal (constant.Decide(failure 1)) (Recovery.RetryAt(fixedNow.AddSeconds 3.0)) "constant"

                let byType =
                    ErrorStrategy.custom (fun failure ->
                        match failure.Error with
                        | :? TimeoutException -> Recovery.RetryAt(failure.At.AddMinutes 1.0)
                        | _ -> Recovery.Stop)

                Expect.equal (byType.Decide(failure 9)) (Recovery.RetryAt(fixedNow.AddMinutes 1.0)) "by type"

            testCase "callbacks compose and keep the earlier ones"
            <| fun _ ->
                let heard = ResizeArray<string>()

                let strategy =
                    ErrorStrategy.retry 1 (TimeSpan.FromSeconds 1.0)
                    |> ErrorStrategy.onRetry (fun failure _ -> heard.Add $"retry {failure.Attempt}")
                    |> ErrorStrategy.onRetry (fun _ at -> heard.Add(at.ToString("mm:ss")))
                    |> ErrorStrategy.onStop (fun failure -> heard.Add $"stop {failure.Error.Message}")

                strategy.OnRetry (failure 1) (fixedNow.AddSeconds 1.0)
                strategy.OnStop(failure 2)
                Expect.equal (List.ofSeq heard) [ "retry 1"; "00:01"; "stop slow" ] "both callbacks, in order"

            testCase "the recorded error names the exception and keeps the message"
            <| fun _ ->
                let recorded = ErrorStrategy.record (failure 1)
                Expect.equal recorded.Error "slow" "error"
                Expect.equal recorded.ExceptionType "System.TimeoutException" "type"
                Expect.equal (recorded.Message |> Option.map (fun message -> message.Type)) (Some "t") "message"
        ]
