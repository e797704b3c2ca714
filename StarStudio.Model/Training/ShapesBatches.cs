// StarStudio's own data feeding (no reference file): ShapesWorld samples to image tensors in [-1, 1] (VAR's
// normalisation) and captions, with a fixed sample range per step so a resumed run sees the same data.
using StarStudio.Model.Imaging;
using StarStudio.Model.Shapes;
using static TorchSharp.torch;

namespace StarStudio.Model.Training;

public static class ShapesBatches
{
    /// <summary>Samples [start, start+count) of the data set: images [B, 3, S, S] in [-1, 1] and their captions.</summary>
    public static (Tensor Images_B3HW, IReadOnlyList<string> Captions) Load(ShapesDataset data, long start, int count, Device? device = null)
    {
        var captions = new string[count];
        var images = new RgbImage[count];
        for (int i = 0; i < count; i++)
        {
            var s = data.Sample(checked((int)((start + i) % int.MaxValue)));
            images[i] = s.Image;
            captions[i] = s.Text;
        }
        return (ToTensor(images, device), captions);
    }

    /// <summary>RGB images (all the same size) to [B, 3, H, W] floats in [-1, 1].</summary>
    public static Tensor ToTensor(IReadOnlyList<RgbImage> images, Device? device = null)
    {
        int B = images.Count, H = images[0].Height, W = images[0].Width;
        var bytes = new byte[B * H * W * 3];
        for (int i = 0; i < B; i++)
        {
            if (images[i].Width != W || images[i].Height != H) throw new ArgumentException("All images of a batch must have the same size.");
            Buffer.BlockCopy(images[i].Pixels, 0, bytes, i * H * W * 3, H * W * 3);
        }
        using var scope = NewDisposeScope();
        var t = tensor(bytes, [B, H, W, 3]).to_type(ScalarType.Float32).permute(0, 3, 1, 2).contiguous().div_(127.5).sub_(1.0);
        if (device is not null) t = t.to(device);
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>[B, 3, H, W] in [-1, 1] back to RGB images (the pipeline's own conversion).</summary>
    public static IReadOnlyList<RgbImage> ToImages(Tensor img_B3HW)
    {
        using var scope = NewDisposeScope();
        return TensorImages.ToRgb(img_B3HW.add(1).mul(0.5));
    }
}
