// Test-only pickle emitter: writes opcodes the way CPython's pickle module does for protocol 2
// (and a few protocol 4 forms), including its memo (BINPUT after strings, tuples, containers, globals;
// BINGET when the same global or string comes again).
using System.Buffers.Binary;
using System.Text;

namespace StarStudio.Tests.Checkpoints.Fixtures;

internal sealed class PickleWriter
{
    readonly MemoryStream _out = new();
    readonly Dictionary<string, int> _memoByKey = new(StringComparer.Ordinal);
    int _nextMemo;

    public byte[] ToArray() => _out.ToArray();
    public int Position => (int)_out.Position;

    public PickleWriter Op(byte op) { _out.WriteByte(op); return this; }
    public PickleWriter Raw(ReadOnlySpan<byte> bytes) { _out.Write(bytes); return this; }

    public PickleWriter Proto(int protocol) => Op(0x80).Op((byte)protocol);
    public PickleWriter Mark() => Op((byte)'(');
    public PickleWriter Stop() => Op((byte)'.');
    public PickleWriter EmptyDict() => Op((byte)'}');
    public PickleWriter EmptyList() => Op((byte)']');
    public PickleWriter EmptyTuple() => Op((byte)')');
    public PickleWriter SetItem() => Op((byte)'s');
    public PickleWriter SetItems() => Op((byte)'u');
    public PickleWriter Append() => Op((byte)'a');
    public PickleWriter Appends() => Op((byte)'e');
    public PickleWriter Tuple() => Op((byte)'t');
    public PickleWriter TupleN(int n) => Op((byte)(0x84 + n)); // TUPLE1..TUPLE3
    public PickleWriter Reduce() => Op((byte)'R');
    public PickleWriter Build() => Op((byte)'b');
    public PickleWriter NewObj() => Op(0x81);
    public PickleWriter BinPersId() => Op((byte)'Q');
    public PickleWriter None() => Op((byte)'N');
    public PickleWriter Bool(bool b) => Op(b ? (byte)0x88 : (byte)0x89);

    /// <summary>BINPUT (or LONG_BINPUT) of the next memo index, as pickle's memoize does.</summary>
    public int Put()
    {
        int index = _nextMemo++;
        if (index < 256) Op((byte)'q').Op((byte)index);
        else
        {
            Op((byte)'r');
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, index);
            Raw(b);
        }
        return index;
    }

    public PickleWriter Get(int index)
    {
        if (index < 256) return Op((byte)'h').Op((byte)index);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, index);
        return Op((byte)'j').Raw(b);
    }

    /// <summary>GLOBAL 'module\nname\n', memoized; a repeat becomes BINGET.</summary>
    public PickleWriter Global(string module, string name)
    {
        string key = "g:" + module + "\n" + name;
        if (_memoByKey.TryGetValue(key, out int i)) return Get(i);
        Op((byte)'c').Raw(Encoding.UTF8.GetBytes(module + "\n" + name + "\n"));
        _memoByKey[key] = Put();
        return this;
    }

    /// <summary>Protocol 4 form: the two names as strings, then STACK_GLOBAL.</summary>
    public PickleWriter StackGlobal(string module, string name)
    {
        ShortUnicode(module);
        ShortUnicode(name);
        return Op(0x93);
    }

    public PickleWriter ShortUnicode(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        return Op(0x8c).Op((byte)bytes.Length).Raw(bytes);
    }

    /// <summary>A str as protocol 2 writes it: BINUNICODE, memoized (a repeat becomes BINGET).</summary>
    public PickleWriter String(string s, bool memoize = true)
    {
        string key = "s:" + s;
        if (memoize && _memoByKey.TryGetValue(key, out int i)) return Get(i);
        var bytes = Encoding.UTF8.GetBytes(s);
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(len, bytes.Length);
        Op((byte)'X').Raw(len).Raw(bytes);
        if (memoize) _memoByKey[key] = Put();
        return this;
    }

    /// <summary>An int the way pickle picks its opcode: BININT1, BININT2, BININT, else LONG1.</summary>
    public PickleWriter Int(long v)
    {
        Span<byte> b = stackalloc byte[8];
        if (v is >= 0 and <= 0xff) return Op((byte)'K').Op((byte)v);
        if (v is >= 0 and <= 0xffff)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v);
            return Op((byte)'M').Raw(b[..2]);
        }
        if (v is >= int.MinValue and <= int.MaxValue)
        {
            BinaryPrimitives.WriteInt32LittleEndian(b, (int)v);
            return Op((byte)'J').Raw(b[..4]);
        }
        var bytes = new System.Numerics.BigInteger(v).ToByteArray();
        return Op(0x8a).Op((byte)bytes.Length).Raw(bytes);
    }

    public PickleWriter Float(double v)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleBigEndian(b, v);
        return Op((byte)'G').Raw(b);
    }
}
