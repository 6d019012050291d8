namespace Sourced.CSharp

/// The C# facade arrives with its own issue; it will expose only BCL-shaped types.
module internal Placeholder =
    let storeContract = typeof<Sourced.IMessageStore>
