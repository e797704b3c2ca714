using MudBlazor.Services;
using Scalar.AspNetCore;
using StarStudio.Web.Api;
using StarStudio.Web.Components;
using StarStudio.Web.Services;

namespace StarStudio.Web;

/// <summary>Builds the whole app; Program.cs and the integration tests start the same thing.</summary>
public static class StarStudioApp
{
    public static IServiceCollection AddStarStudio(this IServiceCollection services, IConfiguration configuration)
    {
        services.Configure<StarStudioOptions>(configuration.GetSection(StarStudioOptions.Section));
        services.AddSingleton<HistoryStore>();
        services.AddSingleton<ModelHost>();
        services.AddSingleton(sp => sp.GetRequiredService<ModelHost>().Catalog);
        services.AddScoped<GenerationService>();
        return services;
    }

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // Tests start the app from their own assembly: static assets and content still come from this project.
            ApplicationName = typeof(StarStudioApp).Assembly.GetName().Name,
        });
        // Serves _framework/blazor.web.js and MudBlazor's files from the build output outside Development too (tests,
        // `dotnet StarStudio.Web.dll`); a published app has them in wwwroot and this is a no-op.
        builder.WebHost.UseStaticWebAssets();
        builder.Services.AddRazorComponents().AddInteractiveServerComponents()
            .AddHubOptions(o => o.MaximumReceiveMessageSize = 8 * 1024 * 1024);
        // Blazor's circuit settings from the "Circuit" section, e.g. --Circuit:DisconnectedCircuitRetentionPeriod=00:01:00
        // (how long a dropped page may come back to its generation before it is cancelled).
        builder.Services.Configure<Microsoft.AspNetCore.Components.Server.CircuitOptions>(builder.Configuration.GetSection("Circuit"));
        builder.Services.AddSignalR();
        builder.Services.AddMudServices();
        builder.Services.AddOpenApi();
        builder.Services.AddStarStudio(builder.Configuration);

        var app = builder.Build();
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapOpenApi();
        app.MapScalarApiReference(o => o.WithTitle("StarStudio API")); // /scalar: browsable reference with try-it
        app.MapStarStudioApi();
        app.MapHub<GenerationHub>(GenerationHub.Path);
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode();
        // Start loading the model at startup rather than on the first page view.
        _ = app.Services.GetRequiredService<ModelHost>();
        return app;
    }
}
