namespace Sourced.Hosting

/// Generic-host integration (AddSourced, hosted workers, health checks) arrives with its own issue.
module internal Placeholder =
    let storeContract = typeof<Sourced.IMessageStore>
