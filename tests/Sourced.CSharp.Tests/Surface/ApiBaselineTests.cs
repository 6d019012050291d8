using PublicApiGenerator;
using Xunit;

namespace Sourced.CSharp.Tests;

/// The public surface of each package, as C# sees it, against an approved copy in Surface/Api: an accidental
/// breaking change (or any change) fails here. When a change is meant, the test writes `<package>.received.txt`
/// beside the approved file: review it, then move it over `<package>.approved.txt` (or run the tests with
/// SOURCED_ACCEPT_API=1, which does that) and note the change in CHANGELOG.md.
public class ApiBaselineTests
{
    /// Every namespace (the DI extensions live in Microsoft.Extensions.DependencyInjection); without the F#
    /// compiler's bookkeeping attributes, which say nothing a C# user sees.
    static readonly ApiGeneratorOptions Options = new()
    {
        IncludeAssemblyAttributes = false,
        DenyNamespacePrefixes = [],
        ExcludeAttributes =
        [
            "Microsoft.FSharp.Core.CompilationMappingAttribute", "Microsoft.FSharp.Core.CompilationArgumentCountsAttribute",
            "Microsoft.FSharp.Core.CompilationSourceNameAttribute", "System.Diagnostics.DebuggerBrowsableAttribute",
            "System.Diagnostics.DebuggerDisplayAttribute", "System.Diagnostics.DebuggerNonUserCodeAttribute",
            "System.Runtime.CompilerServices.CompilerGeneratedAttribute", "System.SerializableAttribute",
        ],
    };

    static string ApiFolder()
    {
        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Sourced.FSharp.sln")))
            folder = folder.Parent;
        if (folder is null) throw new InvalidOperationException("Sourced.FSharp.sln not found above " + AppContext.BaseDirectory);
        return Path.Combine(folder.FullName, "tests", "Sourced.CSharp.Tests", "Surface", "Api");
    }

    [Theory]
    [MemberData(nameof(Packages.Names), MemberType = typeof(Packages))]
    public void The_public_API_of_each_package_is_the_approved_one(string package)
    {
        var api = Packages.Assemblies[package].GeneratePublicApi(Options).ReplaceLineEndings("\n");
        var approvedPath = Path.Combine(ApiFolder(), $"{package}.approved.txt");
        var receivedPath = Path.Combine(ApiFolder(), $"{package}.received.txt");
        var approved = File.Exists(approvedPath) ? File.ReadAllText(approvedPath).ReplaceLineEndings("\n") : "";

        if (api == approved)
        {
            File.Delete(receivedPath);
            return;
        }

        if (Environment.GetEnvironmentVariable("SOURCED_ACCEPT_API") == "1")
        {
            File.WriteAllText(approvedPath, api);
            File.Delete(receivedPath);
            return;
        }

        File.WriteAllText(receivedPath, api);
        var apiLines = api.Split('\n');
        var approvedLines = approved.Split('\n');
        var added = apiLines.Except(approvedLines).Take(20).ToList();
        var removed = approvedLines.Except(apiLines).Take(20).ToList();
        Assert.Fail($"The public API of {package} changed (written to {receivedPath}; if that is meant, move it over " +
                    $"{package}.approved.txt and note it in CHANGELOG.md).\n" +
                    $"Added:\n  {string.Join("\n  ", added.DefaultIfEmpty("(none)"))}\n" +
                    $"Removed:\n  {string.Join("\n  ", removed.DefaultIfEmpty("(none)"))}");
    }
}
