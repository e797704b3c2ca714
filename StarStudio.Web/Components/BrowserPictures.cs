using Microsoft.JSInterop;

namespace StarStudio.Web.Components;

/// <summary>
/// JS calls that hand pictures to the browser. While the circuit's connection is down a JS call is neither delivered
/// nor answered: waiting out the default one-minute timeout per picture would stall a run, and the exception would
/// end the circuit. A picture is only a view of what the server keeps, so after a short wait it is dropped instead.
/// </summary>
public static class BrowserPictures
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    /// <returns>False when the browser did not take it (disconnected, timed out, or its script failed).</returns>
    public static async Task<bool> TrySendAsync(this IJSRuntime js, string identifier, params object?[] args)
    {
        try
        {
            await js.InvokeVoidAsync(identifier, Timeout, args);
            return true;
        }
        catch (Exception e) when (e is JSDisconnectedException or TaskCanceledException or JSException)
        {
            return false;
        }
    }
}
