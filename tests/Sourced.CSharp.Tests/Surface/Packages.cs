using System.Reflection;
using Sourced.Hosting;
using Xunit;

namespace Sourced.CSharp.Tests;

/// The five packages and their assemblies, for the tests that check each package's public surface.
public static class Packages
{
    public static TheoryData<string> Names =>
        ["Sourced.Core", "Sourced.Postgres", "Sourced.Hosting", "Sourced.Postgres.Hosting", "Sourced.CSharp"];

    public static readonly IReadOnlyDictionary<string, Assembly> Assemblies = new[]
    {
        typeof(Message).Assembly, typeof(Sourced.Postgres.PostgresStore).Assembly, typeof(SourcedBuilder).Assembly,
        typeof(Microsoft.Extensions.DependencyInjection.PostgresBuilderExtensions).Assembly, typeof(EventStore).Assembly,
    }.ToDictionary(assembly => assembly.GetName().Name!);
}
