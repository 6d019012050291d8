namespace Sourced.Postgres

/// The PostgreSQL store arrives with its own issue; this project builds against Npgsql and the core today.
module internal Placeholder =
    let storeContract = typeof<Sourced.IMessageStore>
