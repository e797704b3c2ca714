using System.Runtime.CompilerServices;
using StarStudio.Model.Runtime;

namespace StarStudio.Tests;

static class TestSetup
{
    /// <summary>Every test process loads TorchSharp through the project's own fix, as the app and CLI do.</summary>
    [ModuleInitializer]
    internal static void Init() => TorchNativeLoader.Ensure();
}
