using StarStudio.Model.Runtime;
using TorchSharp;

namespace StarStudio.Tests.Runtime;

public class ComputeDeviceTests
{
    [Fact]
    public void Resolve_PicksTheCpuWhenNoGpuIsPresent_AndExplainsAMissingCuda()
    {
        Assert.Equal(DeviceType.CPU, ComputeDevice.Resolve("cpu").type);
        if (torch.cuda.is_available()) return; // the rest describes CPU-only machines such as CI
        Assert.Equal(DeviceType.CPU, ComputeDevice.Resolve("auto").type);
        var e = Assert.Throws<InvalidOperationException>(() => ComputeDevice.Resolve("cuda"));
        Assert.Contains("StarStudioCuda=true", e.Message);
        Assert.Throws<ArgumentException>(() => ComputeDevice.Resolve("tpu"));
    }

    [Fact]
    public void HalfPrecision_IsRefusedOnTheCpu()
    {
        Assert.Equal(torch.ScalarType.Float32, ComputeDevice.ScalarTypeFor(Precision.Float32, torch.CPU));
        var e = Assert.Throws<ArgumentException>(() => ComputeDevice.ScalarTypeFor(Precision.BFloat16, torch.CPU));
        Assert.Contains("hundreds of times slower", e.Message);
    }
}
