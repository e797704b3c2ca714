namespace StarStudio.Tests.Checkpoints.Fixtures;

/// <summary>The layout of a STAR/VAR trainer checkpoint (train.py / trainer.py), shrunk to a few tensors.</summary>
internal static class StarCheckpoint
{
    public static FxOrderedDict VarStateDict()
    {
        var sd = new FxOrderedDict { Metadata = new FxOrderedDict { { "", new FxDict { { "version", 1 } } } } };
        sd.Add("pos_start", FxTensor.Contiguous(FxStorage.Float(0.5f, -0.5f, 1f, 2f), 1, 1, 4));
        sd.Add("lvl_embed.weight", FxTensor.Contiguous(FxStorage.Float(1, 2, 3, 4, 5, 6, 7, 8), 2, 4));
        sd.Add("head_logits.bias", FxTensor.Contiguous(FxStorage.Half(0.25f, -1f, 2f), 3));
        return sd;
    }

    /// <summary>{"trainer": {"config", "var_wo_ddp", "var_opt"}, "args": Args object, "epoch": 3, "iter": 0}.</summary>
    public static FxDict Root(FxOrderedDict? varStateDict = null) => new()
    {
        { "epoch", 3 },
        { "iter", 0 },
        {
            "trainer", new FxDict
            {
                { "config", new FxDict { { "prog_it", 0 }, { "last_prog_si", -1 }, { "first_prog", true } } },
                { "var_wo_ddp", varStateDict ?? VarStateDict() },
                {
                    "var_opt", new FxDict
                    {
                        { "state", new FxDict { { 0, new FxDict { { "step", FxTensor.Contiguous(FxStorage.Float(12)) }, { "exp_avg", FxTensor.Contiguous(FxStorage.Float(0.1f, 0.2f, 0.3f, 0.4f), 1, 1, 4) } } } } },
                        { "param_groups", new List<object?> { new FxDict { { "lr", 1e-4 }, { "params", new List<object?> { 0 } } } } },
                    }
                },
            }
        },
        {
            "args", new FxObject("utils.arg_util", "Args", new FxDict
            {
                { "depth", 16 }, { "patch_nums", new FxTuple(1, 2, 3, 4, 5, 6, 8, 10, 13, 16) }, { "tblr", 1e-4 }, { "exp_name", "star" },
            })
        },
    };
}
