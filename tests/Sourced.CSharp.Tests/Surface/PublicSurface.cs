using System.ComponentModel;
using System.Reflection;

namespace Sourced.CSharp.Tests;

/// Walks the public surface of an assembly as a C# user sees it, for the surface tests.
public static class PublicSurface
{
    public static readonly Assembly FSharpCore = typeof(Microsoft.FSharp.Core.Unit).Assembly;

    const BindingFlags Members =
        BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;

    /// A place where a C# user meets a FSharp.Core type, e.g. "Sourced.X.M(…) parameter 'p': FSharpList`1".
    public sealed record Leak(string Where, Type Type)
    {
        public override string ToString() => $"{Where}: {Type}";
    }

    /// What a C# user sees of a public type, as (where, type used) pairs, and the hidden members (marked
    /// [EditorBrowsable(Never)]) that were left out.
    public sealed record Walk(List<(string Where, Type Type)> Uses, SortedSet<string> Hidden);

    public static bool IsHidden(MemberInfo member) =>
        member.GetCustomAttribute<EditorBrowsableAttribute>() is { State: EditorBrowsableState.Never };

    static bool IsVisible(MethodBase? method) =>
        method is not null && (method.IsPublic || method.IsFamily || method.IsFamilyOrAssembly);

    static bool IsVisible(FieldInfo field) => field.IsPublic || field.IsFamily || field.IsFamilyOrAssembly;

    /// The types a type is built from: itself, its element type, its generic arguments, a generic parameter's
    /// constraints; recursively.
    public static IEnumerable<Type> Parts(Type type) => Parts(type, new HashSet<Type>());

    static IEnumerable<Type> Parts(Type type, HashSet<Type> seen)
    {
        if (!seen.Add(type)) yield break;
        yield return type;
        if (type.HasElementType)
            foreach (var part in Parts(type.GetElementType()!, seen)) yield return part;
        if (type.IsGenericParameter)
        {
            foreach (var constraint in type.GetGenericParameterConstraints())
            foreach (var part in Parts(constraint, seen)) yield return part;
        }
        else if (type.IsGenericType)
        {
            foreach (var argument in type.GetGenericArguments())
            foreach (var part in Parts(argument, seen)) yield return part;
        }
    }

    public static string Name(Type type) => type.FullName ?? type.Name;

    static string Signature(MethodBase method) =>
        $"{Name(method.DeclaringType!)}.{method.Name}" +
        (method.IsGenericMethodDefinition ? $"<{string.Join(",", method.GetGenericArguments().Select(a => a.Name))}>" : "") +
        $"({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})";

    public static Walk Of(Type type)
    {
        var uses = new List<(string, Type)>();
        var hidden = new SortedSet<string>(StringComparer.Ordinal);
        var name = Name(type);
        if (IsHidden(type))
        {
            hidden.Add($"type {name}");
            return new Walk(uses, hidden);
        }

        if (type.BaseType is { } baseType) uses.Add(($"{name} base type", baseType));
        foreach (var contract in type.GetInterfaces()) uses.Add(($"{name} interface", contract));
        foreach (var parameter in type.GetGenericArguments()) uses.Add(($"{name} type parameter {parameter.Name}", parameter));

        foreach (var constructor in type.GetConstructors(Members).Where(IsVisible))
            Method(constructor, uses, hidden);
        // Accessors are judged with their property or event (where [EditorBrowsable] sits); operators are methods.
        var accessors = type.GetProperties(Members).SelectMany(p => p.GetAccessors(nonPublic: true))
            .Concat(type.GetEvents(Members).SelectMany(e => new[] { e.AddMethod, e.RemoveMethod, e.RaiseMethod }))
            .OfType<MethodInfo>()
            .ToHashSet();
        foreach (var method in type.GetMethods(Members).Where(m => IsVisible(m) && !accessors.Contains(m)))
            Method(method, uses, hidden);

        foreach (var property in type.GetProperties(Members))
        {
            if (!IsVisible(property.GetMethod) && !IsVisible(property.SetMethod)) continue;
            var where = $"{Name(property.DeclaringType!)}.{property.Name}";
            if (IsHidden(property)) { hidden.Add($"property {where}"); continue; }
            uses.Add(($"{where} property", property.PropertyType));
            foreach (var index in property.GetIndexParameters()) uses.Add(($"{where} index '{index.Name}'", index.ParameterType));
        }

        foreach (var field in type.GetFields(Members).Where(IsVisible))
        {
            var where = $"{Name(field.DeclaringType!)}.{field.Name}";
            if (IsHidden(field)) { hidden.Add($"field {where}"); continue; }
            uses.Add(($"{where} field", field.FieldType));
        }

        foreach (var @event in type.GetEvents(Members).Where(e => IsVisible(e.AddMethod)))
        {
            var where = $"{Name(@event.DeclaringType!)}.{@event.Name}";
            if (IsHidden(@event)) { hidden.Add($"event {where}"); continue; }
            uses.Add(($"{where} event", @event.EventHandlerType!));
        }

        foreach (var nested in type.GetNestedTypes(BindingFlags.NonPublic).Where(n => n.IsNestedFamily || n.IsNestedFamORAssem))
            uses.Add(($"{name} protected nested type", nested));

        return new Walk(uses, hidden);
    }

    static void Method(MethodBase method, List<(string, Type)> uses, SortedSet<string> hidden)
    {
        var where = Signature(method);
        if (IsHidden(method))
        {
            hidden.Add((method.IsConstructor ? "constructor " : "method ") + where);
            return;
        }

        if (method is MethodInfo info) uses.Add(($"{where} returns", info.ReturnType));
        foreach (var parameter in method.GetParameters())
            uses.Add(($"{where} parameter '{parameter.Name}'", parameter.ParameterType));
        if (method.IsGenericMethodDefinition)
            foreach (var argument in method.GetGenericArguments())
                uses.Add(($"{where} type parameter {argument.Name}", argument));
    }

    /// Every place where the public surface of these assemblies shows a FSharp.Core type, and the hidden members.
    public static (List<Leak> Leaks, SortedSet<string> Hidden) Check(IEnumerable<Assembly> assemblies)
    {
        var leaks = new List<Leak>();
        var hidden = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in assemblies.SelectMany(a => a.GetExportedTypes()))
        {
            var walk = Of(type);
            hidden.UnionWith(walk.Hidden);
            foreach (var (where, used) in walk.Uses)
                leaks.AddRange(Parts(used).Where(p => p.Assembly == FSharpCore).Select(p => new Leak(where, p)));
        }

        return (leaks.Distinct().ToList(), hidden);
    }
}
