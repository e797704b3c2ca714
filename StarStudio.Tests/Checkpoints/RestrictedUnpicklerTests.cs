using System.Numerics;
using StarStudio.Model.Checkpoints;
using StarStudio.Tests.Checkpoints.Fixtures;

namespace StarStudio.Tests.Checkpoints;

public class RestrictedUnpicklerTests
{
    /// <summary>Interprets nothing: every global call becomes a placeholder, persistent ids are refused.</summary>
    sealed class PlainHost : IPickleHost
    {
        public object? PersistentLoad(object? pid) => throw new InvalidOperationException("no persistent ids here");
        public bool TryCall(PickleGlobal callable, object?[] args, out object? result)
        {
            result = null;
            return false;
        }
    }

    static object? Unpickle(byte[] data) => new RestrictedUnpickler(data, "test.pkl", new PlainHost()).Load();

    // CPython 3.11 pickle.dumps(obj, protocol=p) of
    // {'ints': [0, 255, 256, 65535, 65536, -1, 2**31-1, -2**31, 2**40, -2**63, 2**70], 'float': 2.5, 'neg': -0.1,
    //  'str': 'héllo ✓', 'bytes': b'\x00\xff', 'none': None, 't': True, 'f': False, 'tup': (1, 'a', (2,)), 'empty': (),
    //  'shared': [lst, lst] with lst = [1, 2], 'od': OrderedDict(x=1, y=[1, 2]), 1: 'int key', (1, 2): 'tuple key'}
    const string Protocol2 = "80027d7100285804000000696e747371015d7102284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a09000000000000000040655805000000666c6f6174710347400400000000000058030000006e6567710447bfb999999999999a58030000007374727105580a00000068c3a96c6c6f20e29c937106580500000062797465737107635f636f646563730a656e636f64650a7108580300000000c3bf710958060000006c6174696e31710a86710b52710c58040000006e6f6e65710d4e580100000074710e88580100000066710f89580300000074757071104b0158010000006171114b028571128771135805000000656d707479711429580600000073686172656471155d7116285d7117284b014b026568176558020000006f64711863636f6c6c656374696f6e730a4f726465726564446963740a71192952711a28580100000078711b4b01580100000079711c5d711d284b014b0265754b015807000000696e74206b6579711e4b014b0286711f58090000007475706c65206b65797120752e";
    const string Protocol3 = "80037d7100285804000000696e747371015d7102284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a09000000000000000040655805000000666c6f6174710347400400000000000058030000006e6567710447bfb999999999999a58030000007374727105580a00000068c3a96c6c6f20e29c937106580500000062797465737107430200ff710858040000006e6f6e6571094e580100000074710a88580100000066710b895803000000747570710c4b01580100000061710d4b0285710e87710f5805000000656d707479711029580600000073686172656471115d7112285d7113284b014b026568136558020000006f64711463636f6c6c656374696f6e730a4f726465726564446963740a7115295271162858010000007871174b0158010000007971185d7119284b014b0265754b015807000000696e74206b6579711a4b014b0286711b58090000007475706c65206b6579711c752e";
    const string Protocol4 = "80049527010000000000007d94288c04696e7473945d94284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a09000000000000000040658c05666c6f6174944740040000000000008c036e65679447bfb999999999999a8c03737472948c0a68c3a96c6c6f20e29c93948c05627974657394430200ff948c046e6f6e65944e8c017494888c016694898c03747570944b018c0161944b02859487948c05656d70747994298c06736861726564945d94285d94284b014b02656813658c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0178944b018c0179945d94284b014b0265754b018c07696e74206b6579944b014b0286948c097475706c65206b657994752e";
    const string Protocol5 = "80059527010000000000007d94288c04696e7473945d94284b004bff4d00014dffff4a000001004affffffff4affffff7f4a000000808a060000000000018a0800000000000000808a09000000000000000040658c05666c6f6174944740040000000000008c036e65679447bfb999999999999a8c03737472948c0a68c3a96c6c6f20e29c93948c05627974657394430200ff948c046e6f6e65944e8c017494888c016694898c03747570944b018c0161944b02859487948c05656d70747994298c06736861726564945d94285d94284b014b02656813658c026f64948c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0178944b018c0179945d94284b014b0265754b018c07696e74206b6579944b014b0286948c097475706c65206b657994752e";

    [Theory]
    [InlineData(2, Protocol2)]
    [InlineData(3, Protocol3)]
    [InlineData(4, Protocol4)]
    [InlineData(5, Protocol5)]
    public void Load_ReadsWhatCPythonWrites(int protocol, string hex)
    {
        var d = Assert.IsType<PickleDict>(Unpickle(Convert.FromHexString(hex)));
        Assert.Equal(new object?[] { 0L, 255L, 256L, 65535L, 65536L, -1L, (long)int.MaxValue, (long)int.MinValue, 1L << 40, long.MinValue, BigInteger.Pow(2, 70) },
                     Assert.IsType<List<object?>>(d["ints"]));
        Assert.Equal(2.5, d["float"]);
        Assert.Equal(-0.1, d["neg"]);
        Assert.Equal("héllo ✓", d["str"]);
        if (protocol >= 3) Assert.Equal(new byte[] { 0, 0xff }, d["bytes"]);
        else
        {
            // Protocol 2 spells bytes as a call to _codecs.encode, which stays an inert placeholder.
            var encode = Assert.IsType<PickleObject>(d["bytes"]);
            Assert.Equal("_codecs.encode", encode.Type.FullName);
            Assert.Equal(new object?[] { "\u0000\u00ff", "latin1" }, encode.Args);
        }
        Assert.Null(d["none"]);
        Assert.Equal(true, d["t"]);
        Assert.Equal(false, d["f"]);
        var tup = Assert.IsType<object?[]>(d["tup"]);
        Assert.Equal(1L, tup[0]);
        Assert.Equal("a", tup[1]);
        Assert.Equal(new object?[] { 2L }, tup[2]);
        Assert.Empty(Assert.IsType<object?[]>(d["empty"]));
        var shared = Assert.IsType<List<object?>>(d["shared"]);
        Assert.Same(shared[0], shared[1]); // the memo keeps identity
        var od = Assert.IsType<PickleObject>(d["od"]); // the plain host does not interpret OrderedDict
        Assert.Equal("collections.OrderedDict", od.Type.FullName);
        Assert.Equal(["x", "y"], od.DictItems.Select(p => p.Key));
        Assert.Equal("int key", d[1L]);
        Assert.Equal("tuple key", d[new object?[] { 1L, 2L }]);
    }

    [Fact]
    public void Load_RepeatedDictKeyKeepsFirstPositionAndLastValue()
    {
        var w = new PickleWriter().Proto(2).EmptyDict().Mark();
        w.String("a", memoize: false).Int(1).String("b", memoize: false).Int(2).String("a", memoize: false).Int(3).SetItems().Stop();
        var d = Assert.IsType<PickleDict>(Unpickle(w.ToArray()));
        Assert.Equal(["a", "b"], d.Keys);
        Assert.Equal(3L, d["a"]);
    }

    [Theory]
    [InlineData("8002ff", "unknown pickle opcode 0xff at byte 2")]
    [InlineData("800652", "protocol 6")]
    [InlineData("800252", "stack underflow")]
    [InlineData("80026805", "never stored")]
    [InlineData("80027d", "before its STOP")]
    [InlineData("800258ffffff7f41", "claims 2147483647 bytes")]
    [InlineData("80028dffffffffffffffff", "claims -1 bytes")]
    [InlineData("80029508000000000000007d2e", "FRAME")]
    [InlineData("800275", "needs a MARK")]
    [InlineData("80027d284b01752e", "odd number")]
    [InlineData("80024b014b01612e", "not a list")]
    [InlineData("80024b014b0152", "only named globals")]
    [InlineData("8002630a0a", "empty global name")]
    [InlineData("80025305270a", "not supported")]
    [InlineData("8002820a", "extension registry")]
    [InlineData("800550", "text persistent ids")]
    public void Load_RejectsMalformedPicklesWithTheReason(string hex, string expected)
    {
        var e = Assert.ThrowsAny<CheckpointException>(() => Unpickle(Convert.FromHexString(hex)));
        Assert.Contains("test.pkl", e.Message);
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Inspect_SurvivesSelfReferenceSharedContainersAndDeepNesting()
    {
        using var dir = new TempDir();

        // l = []; l.append(l)
        string cyclic = dir.File("cyclic.pth");
        TorchZip.Write(cyclic, "archive", new PickleWriter().Proto(2).EmptyList().Op((byte)'q').Op(0).Get(0).Append().Stop().ToArray(), []);
        var inspection = CheckpointInspector.Inspect(cyclic);
        Assert.Empty(inspection.Tensors);
        Assert.Null(inspection.StateDictKeyPath);

        // 60 levels of [x, x]: 2^60 paths through 60 lists; each list must be visited once.
        string dag = dir.File("dag.pth");
        var w = new PickleWriter().Proto(2).EmptyList();
        for (int i = 0; i < 60; i++)
        {
            int memo = w.Put();
            w.Mark().Get(memo).Get(memo).Op((byte)'l');
        }
        TorchZip.Write(dag, "archive", w.Stop().ToArray(), []);
        Assert.Empty(CheckpointInspector.Inspect(dag).Tensors);

        // 100 000 nested lists: the unpickler builds them without recursion; the walk stops at its depth limit.
        string deep = dir.File("deep.pth");
        var d = new PickleWriter().Proto(2);
        for (int i = 0; i < 100_000; i++) d.EmptyList();
        for (int i = 0; i < 99_999; i++) d.Append();
        TorchZip.Write(deep, "archive", d.Stop().ToArray(), []);
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointInspector.Inspect(deep));
        Assert.Contains("nest", e.Message);
    }
}
