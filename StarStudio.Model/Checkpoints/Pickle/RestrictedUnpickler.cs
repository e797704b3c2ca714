// A restricted unpickler for protocols 2-5 (plus the protocol 0/1 opcodes that can name globals, so a
// hostile pickle cannot slip past the safety check by using them). It builds the inert tree described in
// PickleObjects.cs: globals are checked against PickleSafety and recorded by name, never imported or
// called; every length is checked against the bytes that remain before anything is allocated.
using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace StarStudio.Model.Checkpoints;

/// <summary>Interprets the few globals and persistent ids a format (torch.save) gives meaning to.</summary>
internal interface IPickleHost
{
    /// <summary>The object a BINPERSID id stands for.</summary>
    object? PersistentLoad(object? pid);

    /// <summary>Builds a known global's result (REDUCE / NEWOBJ); false leaves an inert PickleObject.</summary>
    bool TryCall(PickleGlobal callable, object?[] args, out object? result);
}

internal sealed class RestrictedUnpickler
{
    const int HighestProtocol = 5;
    readonly byte[] _data;
    readonly string _filePath;
    readonly IPickleHost _host;
    readonly List<object?> _stack = [];
    readonly Stack<int> _marks = new();
    readonly Dictionary<long, object?> _memo = [];
    int _pos;

    public RestrictedUnpickler(byte[] data, string filePath, IPickleHost host)
    {
        _data = data;
        _filePath = filePath;
        _host = host;
    }

    /// <summary>The globals the pickle named, in order of first appearance (for inspection).</summary>
    public List<PickleGlobal> GlobalsSeen { get; } = [];

    public object? Load()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw Bad("the pickle ends before its STOP opcode (truncated).");
            int at = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: // PROTO
                    int proto = ReadByte();
                    if (proto > HighestProtocol) throw Bad($"pickle protocol {proto} is newer than the highest known ({HighestProtocol}).");
                    break;
                case 0x95: // FRAME: a length hint only; the frame must still fit in the data.
                    if (ReadUInt64() > (ulong)(_data.Length - _pos)) throw Bad("a FRAME claims more bytes than remain (truncated).");
                    break;
                case (byte)'.': // STOP
                    return Pop(at);

                case (byte)'(': _marks.Push(_stack.Count); break; // MARK
                case (byte)'}': _stack.Add(new PickleDict()); break; // EMPTY_DICT
                case (byte)']': _stack.Add(new List<object?>()); break; // EMPTY_LIST
                case (byte)')': _stack.Add(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case 0x8f: _stack.Add(new PickleObject(new("builtins", "set"), [], "EMPTY_SET")); break;
                case 0x85: _stack.Add(new[] { Pop(at) }); break; // TUPLE1
                case 0x86: { var b = Pop(at); var a = Pop(at); _stack.Add(new[] { a, b }); break; } // TUPLE2
                case 0x87: { var c = Pop(at); var b = Pop(at); var a = Pop(at); _stack.Add(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'t': _stack.Add(PopMark(at).ToArray()); break; // TUPLE
                case (byte)'l': _stack.Add(PopMark(at)); break; // LIST
                case (byte)'d': _stack.Add(DictFrom(PopMark(at), at)); break; // DICT
                case 0x91: // FROZENSET
                    var frozen = new PickleObject(new("builtins", "frozenset"), [], "FROZENSET");
                    frozen.ListItems.AddRange(PopMark(at));
                    _stack.Add(frozen);
                    break;

                case (byte)'a': { var v = Pop(at); Extend(Top(at), [v], at); break; } // APPEND
                case (byte)'e': { var items = PopMark(at); Extend(Top(at), items, at); break; } // APPENDS
                case 0x90: { var items = PopMark(at); Extend(Top(at), items, at); break; } // ADDITEMS
                case (byte)'s': { var v = Pop(at); var k = Pop(at); SetItems(Top(at), [k, v], at); break; } // SETITEM
                case (byte)'u': { var items = PopMark(at); SetItems(Top(at), items, at); break; } // SETITEMS

                case (byte)'0': // POP (pops a MARK when the stack above it is empty, as CPython does)
                    if (_marks.Count > 0 && _marks.Peek() == _stack.Count) _marks.Pop();
                    else Pop(at);
                    break;
                case (byte)'1': PopMark(at); break; // POP_MARK
                case (byte)'2': _stack.Add(Top(at)); break; // DUP

                case (byte)'N': _stack.Add(null); break;
                case 0x88: _stack.Add(true); break;
                case 0x89: _stack.Add(false); break;
                case (byte)'J': _stack.Add((long)BinaryPrimitives.ReadInt32LittleEndian(Read(4))); break; // BININT
                case (byte)'K': _stack.Add((long)ReadByte()); break; // BININT1
                case (byte)'M': _stack.Add((long)BinaryPrimitives.ReadUInt16LittleEndian(Read(2))); break; // BININT2
                case 0x8a: _stack.Add(ReadLong(ReadByte())); break; // LONG1
                case 0x8b: _stack.Add(ReadLong(ReadLength32())); break; // LONG4
                case (byte)'G': _stack.Add(BinaryPrimitives.ReadDoubleBigEndian(Read(8))); break; // BINFLOAT (big-endian)
                case (byte)'I': _stack.Add(ParseIntLine(ReadLine(at), at)); break; // INT
                case (byte)'L': _stack.Add(ParseLongLine(ReadLine(at), at)); break; // LONG
                case (byte)'F': // FLOAT
                    if (!double.TryParse(ReadLine(at), NumberStyles.Float, CultureInfo.InvariantCulture, out double f))
                        throw Bad($"malformed FLOAT at byte {at}.");
                    _stack.Add(f);
                    break;

                case (byte)'X': _stack.Add(Utf8(Read(ReadLength32()))); break; // BINUNICODE
                case 0x8c: _stack.Add(Utf8(Read(ReadByte()))); break; // SHORT_BINUNICODE
                case 0x8d: _stack.Add(Utf8(Read(ReadLength64()))); break; // BINUNICODE8
                // Python 2 str: torch.load decodes it as UTF-8 by default, and so do we.
                case (byte)'T': _stack.Add(Utf8(Read(ReadLength32()))); break; // BINSTRING
                case (byte)'U': _stack.Add(Utf8(Read(ReadByte()))); break; // SHORT_BINSTRING
                case (byte)'B': _stack.Add(Read(ReadLength32()).ToArray()); break; // BINBYTES
                case (byte)'C': _stack.Add(Read(ReadByte()).ToArray()); break; // SHORT_BINBYTES
                case 0x8e: _stack.Add(Read(ReadLength64()).ToArray()); break; // BINBYTES8
                case 0x96: _stack.Add(Read(ReadLength64()).ToArray()); break; // BYTEARRAY8

                case (byte)'q': Memo(ReadByte(), at); break; // BINPUT
                case (byte)'r': Memo(BinaryPrimitives.ReadUInt32LittleEndian(Read(4)), at); break; // LONG_BINPUT
                case 0x94: Memo(_memo.Count, at); break; // MEMOIZE
                case (byte)'p': Memo(ParseIndexLine(ReadLine(at), at), at); break; // PUT
                case (byte)'h': Recall(ReadByte(), at); break; // BINGET
                case (byte)'j': Recall(BinaryPrimitives.ReadUInt32LittleEndian(Read(4)), at); break; // LONG_BINGET
                case (byte)'g': Recall(ParseIndexLine(ReadLine(at), at), at); break; // GET

                case (byte)'c': // GLOBAL
                {
                    string module = ReadLine(at), name = ReadLine(at);
                    _stack.Add(Global(module, name));
                    break;
                }
                case 0x93: // STACK_GLOBAL
                {
                    var name = Pop(at);
                    var module = Pop(at);
                    if (module is not string m || name is not string n) throw Bad($"STACK_GLOBAL at byte {at} needs two strings.");
                    _stack.Add(Global(m, n));
                    break;
                }
                case (byte)'i': // INST: protocol 0 class instantiation
                {
                    string module = ReadLine(at), name = ReadLine(at);
                    var g = Global(module, name);
                    _stack.Add(Call(g, PopMark(at).ToArray(), "INST"));
                    break;
                }
                case (byte)'o': // OBJ
                {
                    var items = PopMark(at);
                    if (items.Count == 0 || items[0] is not PickleGlobal g) throw Bad($"OBJ at byte {at} does not start with a class.");
                    _stack.Add(Call(g, items.Skip(1).ToArray(), "OBJ"));
                    break;
                }
                case (byte)'R': // REDUCE
                {
                    var args = Pop(at);
                    var callable = Pop(at);
                    _stack.Add(Call(AsGlobal(callable, "REDUCE", at), AsTuple(args, "REDUCE", at), "REDUCE"));
                    break;
                }
                case 0x81: // NEWOBJ
                {
                    var args = Pop(at);
                    var cls = Pop(at);
                    _stack.Add(Call(AsGlobal(cls, "NEWOBJ", at), AsTuple(args, "NEWOBJ", at), "NEWOBJ"));
                    break;
                }
                case 0x92: // NEWOBJ_EX
                {
                    var kwargs = Pop(at);
                    var args = Pop(at);
                    var cls = Pop(at);
                    var obj = new PickleObject(AsGlobal(cls, "NEWOBJ_EX", at), AsTuple(args, "NEWOBJ_EX", at), "NEWOBJ_EX") { Keywords = kwargs };
                    _stack.Add(obj);
                    break;
                }
                case (byte)'b': // BUILD
                {
                    var state = Pop(at);
                    Build(Top(at), state);
                    break;
                }
                case (byte)'Q': _stack.Add(_host.PersistentLoad(Pop(at))); break; // BINPERSID

                case (byte)'P': throw Bad($"text persistent ids (PERSID at byte {at}) are not used by torch.save and are not supported.");
                case (byte)'S' or (byte)'V':
                    throw Bad($"protocol 0 text strings (opcode '{(char)op}' at byte {at}) are not supported; torch.save writes protocol 2.");
                case 0x82 or 0x83 or 0x84:
                    throw Bad($"the pickle uses the copyreg extension registry (EXT opcode at byte {at}), which is not supported.");
                case 0x97 or 0x98:
                    throw Bad($"the pickle uses out-of-band buffers (opcode 0x{op:x2} at byte {at}), which are not supported.");
                default:
                    throw Bad($"unknown pickle opcode 0x{op:x2} at byte {at}: not a pickle, or corrupt.");
            }
        }
    }

    PickleGlobal Global(string module, string name)
    {
        // torch.load renames this module the same way when it unpickles.
        if (module == "torch.tensor") module = "torch._tensor";
        if (PickleSafety.WhyDangerous(module, name) is { } why)
            throw new UnsafeCheckpointException(_filePath, $"{module}.{name}", why);
        var g = new PickleGlobal(module, name);
        if (!GlobalsSeen.Contains(g)) GlobalsSeen.Add(g);
        return g;
    }

    object? Call(PickleGlobal g, object?[] args, string how) =>
        _host.TryCall(g, args, out var result) ? result : new PickleObject(g, args, how);

    static void Build(object? target, object? state)
    {
        switch (target)
        {
            case PickleObject o:
                o.State = state;
                break;
            case PickleDict d:
                // State is a dict of attributes, or (dict, slot dict) when the class has __slots__.
                foreach (var part in state is object?[] pair ? pair : [state])
                    if (part is PickleDict attrs)
                        foreach (var (k, v) in attrs.Items)
                            if (k is string name) d.Attributes[name] = v;
                break;
            // Tensors and plain containers carry no state StarStudio uses; Python would set attributes, we drop them.
        }
    }

    void Extend(object? target, List<object?> items, int at)
    {
        switch (target)
        {
            case List<object?> list: list.AddRange(items); break;
            case PickleObject o: o.ListItems.AddRange(items); break;
            default: throw Bad($"APPEND/ADDITEMS at byte {at} targets a {Describe(target)}, not a list.");
        }
    }

    void SetItems(object? target, List<object?> items, int at)
    {
        if (items.Count % 2 != 0) throw Bad($"SETITEMS at byte {at} has an odd number of items.");
        switch (target)
        {
            case PickleDict d:
                for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1]);
                break;
            case PickleObject o:
                for (int i = 0; i < items.Count; i += 2) o.DictItems.Add(new(items[i], items[i + 1]));
                break;
            default: throw Bad($"SETITEM(S) at byte {at} targets a {Describe(target)}, not a dict.");
        }
    }

    PickleDict DictFrom(List<object?> items, int at)
    {
        var d = new PickleDict();
        SetItems(d, items, at);
        return d;
    }

    PickleGlobal AsGlobal(object? value, string op, int at) =>
        value as PickleGlobal ?? throw Bad($"{op} at byte {at} calls a {Describe(value)}; only named globals can be called here.");

    object?[] AsTuple(object? value, string op, int at) =>
        value as object?[] ?? throw Bad($"{op} at byte {at} has arguments that are a {Describe(value)}, not a tuple.");

    void Memo(long index, int at)
    {
        if (_stack.Count == 0) throw Bad($"memo store at byte {at} with an empty stack.");
        _memo[index] = _stack[^1];
    }

    void Recall(long index, int at)
    {
        if (!_memo.TryGetValue(index, out var value)) throw Bad($"memo fetch at byte {at} of index {index}, which was never stored.");
        _stack.Add(value);
    }

    object? Pop(int at)
    {
        int floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count <= floor) throw Bad($"stack underflow at byte {at}: corrupt pickle.");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    object? Top(int at)
    {
        int floor = _marks.Count > 0 ? _marks.Peek() : 0;
        if (_stack.Count <= floor) throw Bad($"stack underflow at byte {at}: corrupt pickle.");
        return _stack[^1];
    }

    List<object?> PopMark(int at)
    {
        if (_marks.Count == 0) throw Bad($"opcode at byte {at} needs a MARK and none is open: corrupt pickle.");
        int start = _marks.Pop();
        var items = _stack.GetRange(start, _stack.Count - start);
        _stack.RemoveRange(start, _stack.Count - start);
        return items;
    }

    byte ReadByte()
    {
        if (_pos >= _data.Length) throw Bad("the pickle ends in the middle of an opcode (truncated).");
        return _data[_pos++];
    }

    ReadOnlySpan<byte> Read(long count)
    {
        if (count < 0 || count > _data.Length - _pos)
            throw Bad($"an opcode at byte {_pos} claims {count} bytes but only {_data.Length - _pos} remain (truncated or corrupt).");
        var span = _data.AsSpan(_pos, (int)count);
        _pos += (int)count;
        return span;
    }

    long ReadLength32() => BinaryPrimitives.ReadUInt32LittleEndian(Read(4));

    long ReadLength64()
    {
        ulong n = ReadUInt64();
        return n > (ulong)(_data.Length - _pos) ? -1 : (long)n; // -1 makes Read report the lie
    }

    ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Read(8));

    object ReadLong(long byteCount)
    {
        var bytes = Read(byteCount);
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (object)(long)value : value;
    }

    string ReadLine(int at)
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw Bad($"a text argument at byte {at} has no end of line (truncated).");
        string s = Encoding.UTF8.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    object ParseIntLine(string line, int at)
    {
        if (line == "00") return false;
        if (line == "01") return true;
        return ParseLongLine(line, at);
    }

    object ParseLongLine(string line, int at)
    {
        string digits = line.EndsWith('L') ? line[..^1] : line;
        // Bounded first: parsing a huge decimal string is quadratic.
        if (digits.Length > 4096 || !BigInteger.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v))
            throw Bad($"malformed integer at byte {at}.");
        return v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
    }

    long ParseIndexLine(string line, int at) =>
        long.TryParse(line, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : throw Bad($"malformed memo index at byte {at}.");

    static string Utf8(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes);

    internal static string Describe(object? value) => value switch
    {
        null => "None",
        PickleGlobal g => $"global {g.FullName}",
        PickleObject o => $"{o.Type.FullName} object",
        PickleDict d => d.TypeName,
        object?[] => "tuple",
        List<object?> => "list",
        string => "string",
        byte[] => "bytes",
        long or BigInteger => "int",
        double => "float",
        bool => "bool",
        _ => value.GetType().Name,
    };

    CheckpointFormatException Bad(string problem) => new(_filePath, problem);
}
