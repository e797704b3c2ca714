// Globals no honest checkpoint needs. The unpickler never imports or calls anything, so a placeholder
// would be harmless to StarStudio; such a file is refused anyway, because it is built to run code on
// whoever opens it with Python's torch.load, and the user must hear that.
namespace StarStudio.Model.Checkpoints;

internal static class PickleSafety
{
    /// <summary>Modules whose globals are refused (the module itself and everything under it).</summary>
    static readonly Dictionary<string, string> DangerousModules = new(StringComparer.Ordinal)
    {
        ["os"] = "operating-system calls", ["posix"] = "operating-system calls", ["nt"] = "operating-system calls",
        ["subprocess"] = "runs programs", ["pty"] = "runs programs", ["commands"] = "runs programs", ["popen2"] = "runs programs",
        ["platform"] = "runs programs", ["webbrowser"] = "runs programs", ["multiprocessing"] = "starts processes",
        ["sys"] = "interpreter internals", ["shutil"] = "file-system changes", ["tempfile"] = "file-system changes",
        ["pathlib"] = "file-system changes", ["io"] = "opens files", ["_io"] = "opens files", ["fileinput"] = "opens files",
        ["socket"] = "network access", ["ssl"] = "network access", ["http"] = "network access", ["urllib"] = "network access",
        ["urllib2"] = "network access", ["ftplib"] = "network access", ["smtplib"] = "network access", ["requests"] = "network access",
        ["importlib"] = "imports code", ["imp"] = "imports code", ["zipimport"] = "imports code", ["runpy"] = "runs code",
        ["code"] = "runs code", ["codeop"] = "compiles code", ["timeit"] = "runs code", ["trace"] = "runs code",
        ["profile"] = "runs code", ["cProfile"] = "runs code", ["pdb"] = "runs code", ["bdb"] = "runs code",
        ["types"] = "builds functions and code objects", ["marshal"] = "loads code objects", ["ctypes"] = "calls native code",
        ["_ctypes"] = "calls native code", ["cffi"] = "calls native code", ["signal"] = "process signals",
        ["threading"] = "starts threads", ["_thread"] = "starts threads", ["thread"] = "starts threads", ["asyncio"] = "runs code",
        ["pickle"] = "nested unpickling", ["_pickle"] = "nested unpickling", ["cPickle"] = "nested unpickling",
        ["dill"] = "nested unpickling", ["cloudpickle"] = "nested unpickling", ["joblib"] = "nested unpickling",
        ["shelve"] = "nested unpickling", ["operator"] = "attribute and method access", ["_operator"] = "attribute and method access",
        ["pip"] = "installs packages", ["setuptools"] = "installs packages", ["distutils"] = "builds and runs code",
        ["ensurepip"] = "installs packages", ["venv"] = "creates environments", ["yaml"] = "nested deserialisation",
        ["torch.hub"] = "downloads and runs code", ["torch.jit"] = "loads code", ["torch.package"] = "loads code",
        ["torch.utils.cpp_extension"] = "compiles native code", ["torch._dynamo"] = "runs code",
        ["numpy.f2py"] = "compiles native code", ["numpy.distutils"] = "builds code",
        ["numpy.testing"] = "runs code", ["numpy.lib.npyio"] = "opens files",
    };

    /// <summary>Single globals refused in modules that are otherwise allowed as placeholders.</summary>
    static readonly Dictionary<string, string> DangerousGlobals = new(StringComparer.Ordinal)
    {
        ["torch.load"] = "nested unpickling", ["torch.save"] = "writes files", ["torch.serialization.load"] = "nested unpickling",
        ["torch.serialization.save"] = "writes files", ["torch.from_file"] = "opens files",
        ["numpy.load"] = "nested unpickling", ["numpy.save"] = "writes files", ["numpy.fromfile"] = "opens files",
        ["numpy.memmap"] = "opens files", ["numpy.loadtxt"] = "opens files", ["numpy.genfromtxt"] = "opens files",
        ["pandas.read_pickle"] = "nested unpickling", ["functools.reduce"] = "calls functions",
        ["codecs.open"] = "opens files",
    };

    /// <summary>The only builtins a data pickle plausibly names; every other builtin (eval, exec, getattr, open,
    /// __import__, compile, ...) is refused.</summary>
    static readonly HashSet<string> HarmlessBuiltins = new(StringComparer.Ordinal)
    {
        "set", "frozenset", "bytearray", "bytes", "slice", "complex", "range", "object", "int", "float", "str",
        "list", "dict", "tuple", "bool", "NoneType", "Ellipsis", "NotImplemented",
    };

    /// <summary>Why module.name is refused, or null when it may become an inert placeholder.</summary>
    public static string? WhyDangerous(string module, string name)
    {
        if (module.Length == 0 || name.Length == 0) return "empty global name";
        // Dunder attributes (__globals__, __builtins__, __subclasses__, __reduce__, ...) are how pickles reach
        // interpreter internals through otherwise harmless objects.
        if (name.Split('.').Any(s => s.Length > 4 && s.StartsWith("__", StringComparison.Ordinal) && s.EndsWith("__", StringComparison.Ordinal)))
            return "reaches interpreter internals through a dunder attribute";
        if (module is "builtins" or "__builtin__" or "exceptions")
            return HarmlessBuiltins.Contains(name) ? null : "a Python builtin that can run code, import modules or touch files";
        string full = module + "." + name;
        if (DangerousGlobals.TryGetValue(full, out var why)) return why;
        for (string? m = module; m is not null; m = Parent(m))
            if (DangerousModules.TryGetValue(m, out why)) return why;
        // "torch.hub" may arrive as module "torch", name "hub.load" (protocol 4 allows dotted names).
        for (string? m = full; m is not null; m = Parent(m))
            if (DangerousModules.TryGetValue(m, out why) || DangerousGlobals.TryGetValue(m, out why)) return why;
        return null;
    }

    static string? Parent(string dotted)
    {
        int i = dotted.LastIndexOf('.');
        return i < 0 ? null : dotted[..i];
    }
}
