using System.Reflection;
using System.Runtime.CompilerServices;
using System.Xml.Linq;
using Microsoft.FSharp.Core;
using Xunit;

namespace Sourced.CSharp.Tests;

/// Every public type and member of each package has an XML doc summary (what IDEs show on hover), read from the
/// doc file the build writes next to each assembly. A member counts as documented when a doc entry starts with its
/// name (overloads share one), a union case's property when its case is documented.
public class DocumentationTests
{
    const BindingFlags Declared =
        BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    static bool IsUnion(Type type) =>
        type.GetCustomAttributes<CompilationMappingAttribute>(inherit: true)
            .Any(mapping =>
                (mapping.SourceConstructFlags & SourceConstructFlags.KindMask) == SourceConstructFlags.SumType);

    /// What the compiler makes: closures and state machines (`<...>`), and the types nested in a union: its `Tags`
    /// constants and its case classes (documented through their cases).
    static bool IsGenerated(Type type) =>
        type.Name.StartsWith('<') || (type.IsNested && IsUnion(type.DeclaringType!));

    /// Members nobody writes a doc comment for: accessors and operators, the overrides every type has, a union's
    /// `Tag`, `Is*` and `New*` members and its cases' properties (the cases carry the docs), constructors, and
    /// anything the compiler generated.
    static bool IsExempt(Type type, MemberInfo member) =>
        member.IsDefined(typeof(CompilerGeneratedAttribute), inherit: false) || member switch
        {
            MethodInfo method => method.IsSpecialName
                                 || method.Name is "Equals" or "GetHashCode" or "CompareTo" or "ToString"
                                 || (IsUnion(type) && method.Name.StartsWith("New", StringComparison.Ordinal)),
            PropertyInfo property => IsUnion(type)
                                     && (property.Name == "Tag"
                                         || property.Name.StartsWith("Is", StringComparison.Ordinal)
                                         || type.GetNestedTypes().Any(nested => nested.Name == property.Name)),
            ConstructorInfo => true,
            Type nested => nested.Name == "Tags" && IsUnion(type),
            _ => false,
        };

    /// The doc entries' ids (`T:Sourced.Message`, `P:Sourced.Message.Id`, `M:...(System.String)`, ...).
    static IReadOnlyList<string> DocIds(Assembly assembly)
    {
        var path = Path.ChangeExtension(assembly.Location, ".xml");
        Assert.True(File.Exists(path),
            $"No XML doc file next to {assembly.Location}: is GenerateDocumentationFile on?");
        return XDocument.Load(path).Descendants("member")
            .Select(member => (string?)member.Attribute("name"))
            .OfType<string>()
            .ToList();
    }

    /// The exported types and public members with no doc entry, as `type <name>` and `member <type>.<member>`.
    public static List<string> Undocumented(Assembly assembly, IReadOnlyList<string> docIds)
    {
        bool Documented(string prefix) =>
            docIds.Any(id => id.Length > 2 && id[2..].StartsWith(prefix, StringComparison.Ordinal));

        var missing = new List<string>();
        foreach (var type in assembly.GetExportedTypes().Where(type => !IsGenerated(type)))
        {
            var name = type.FullName!.Replace('+', '.');
            if (!docIds.Any(id => id.StartsWith("T:" + name, StringComparison.Ordinal)))
                missing.Add($"type {name}");

            foreach (var member in type.GetMembers(Declared).Where(member => !IsExempt(type, member)))
            {
                var memberName = $"{name}.{member.Name}";
                if (!Documented(memberName)) missing.Add($"member {memberName}");
            }
        }

        return missing.Distinct().ToList();
    }

    [Theory]
    [MemberData(nameof(Packages.Names), MemberType = typeof(Packages))]
    public void Every_public_type_and_member_of_each_package_has_a_doc_comment(string package)
    {
        var assembly = Packages.Assemblies[package];
        var missing = Undocumented(assembly, DocIds(assembly));

        var more = missing.Count > 100 ? $"\n  ... and {missing.Count - 100} more" : "";
        Assert.True(missing.Count == 0,
            $"{missing.Count} public types and members of {package} have no /// doc comment:\n  " +
            string.Join("\n  ", missing.Take(100)) + more);
    }

    [Fact]
    public void The_check_names_what_has_no_doc_and_skips_what_the_compiler_makes()
    {
        // The check itself, against no docs at all.
        var missing = Undocumented(typeof(Message).Assembly, []);

        Assert.Contains("type Sourced.Message", missing);
        Assert.Contains("member Sourced.Message.Id", missing);
        Assert.Contains("type Sourced.ActorModule", missing);
        Assert.Contains("member Sourced.ActorModule.create", missing);
        Assert.Contains("member Sourced.IMessageStore.AppendAsync", missing);
        Assert.Contains("member Sourced.Target.Stream", missing);
        Assert.Contains("member Sourced.Target.NewStream", missing);
        Assert.DoesNotContain("member Sourced.Target.NewNewStream", missing);
        Assert.DoesNotContain("type Sourced.Target.Stream", missing);
        Assert.DoesNotContain("member Sourced.Target.Tags", missing);
        Assert.DoesNotContain("member Sourced.Target.Tag", missing);
        Assert.DoesNotContain("member Sourced.Target.IsStream", missing);
        Assert.DoesNotContain("member Sourced.GroupStatus.Active", missing);
        Assert.DoesNotContain("member Sourced.Message.Equals", missing);
        Assert.DoesNotContain(missing,
            entry => entry.Contains('<') || entry.Contains(".get_") || entry.Contains(".ctor"));

        // A documented case covers its case class, and a doc on one overload covers them all.
        var withDocs = Undocumented(typeof(Message).Assembly,
            ["T:Sourced.Target.Stream", "M:Sourced.IMessageStore.AppendAsync(System.String)"]);
        Assert.DoesNotContain("member Sourced.Target.Stream", withDocs);
        Assert.DoesNotContain("member Sourced.IMessageStore.AppendAsync", withDocs);
    }
}
