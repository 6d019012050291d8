using System.ComponentModel;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace Sourced.CSharp.Tests;

/// A public type that shows FSharp.Core types everywhere the surface walk looks: it proves the walk finds them.
public class Leaky(FSharpList<int> list) : FSharpFunc<int, int>, IEquatable<FSharpOption<int>>
{
    public FSharpOption<int>[] Array() => [];
    public void ByRef(ref FSharpOption<int> value) { }
    public void Constrained<T>() where T : FSharpFunc<int, int> { }
    public Dictionary<string, IReadOnlyList<Unit>> Nested() => [];
    public FSharpMap<int, int>? Property { get; set; }
    public FSharpSet<int>? Field;
    public event EventHandler<FSharpChoice<int, string>>? Changed;
    protected FSharpResult<int, string> Protected() => default;
    private FSharpList<int> Private() => list;
    [EditorBrowsable(EditorBrowsableState.Never)]
    public FSharpList<int> Interop() => Private();
    public override int Invoke(int value) => value;
    public bool Equals(FSharpOption<int>? other) => Changed is null;
}
