using Microsoft.AspNetCore.Mvc;
using StarStudio.Model.Generation;
using StarStudio.Web.Services;

namespace StarStudio.Web.Api;

/// <summary>HTTP endpoints for programs: the same host and queue the pages use.</summary>
public static class ApiEndpoints
{
    public static IEndpointRouteBuilder MapStarStudioApi(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api").WithTags("Generation");
        api.MapGet("/models", Models).WithSummary("The loaded models (the active one first), their state and limits.");
        api.MapPost("/generate", Generate)
            .WithSummary("Generates one image; answers with the PNG, parameters embedded (iTXt 'parameters' and 'starstudio').")
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .Produces<ApiValidationProblem>(StatusCodes.Status400BadRequest)
            .Produces(StatusCodes.Status503ServiceUnavailable);
        api.MapGet("/history/{id:long}.png", (long id, HistoryStore history) =>
                history.GetPng(id) is { } png ? Results.File(png, "image/png", $"starstudio-{id}.png") : Results.NotFound())
            .WithSummary("A stored generation's PNG.");
        return app;
    }

    static async Task<IReadOnlyList<ApiModel>> Models(ModelHost host)
    {
        await host.Loaded;
        var active = host.ActiveModel;
        var models = host.Models.OrderBy(m => m.Name != active).Select(m => ToApi(host, m, m.Name == active)).ToArray();
        // Nothing loaded: one entry that says why (the startup model failed).
        return models.Length > 0 ? models : [new ApiModel("", host.State.ToString(), host.LoadError, false, false, 0, [], 0, 0, false, 0, "", false)];
    }

    static ApiModel ToApi(ModelHost host, ModelInfo i, bool active) =>
        new(i.Name, ModelState.Ready.ToString(), active ? host.LoadError : null, i.IsRandom, i.Limits.TextConditional, i.Resolution,
            i.Limits.PatchNums, i.Limits.VocabSize, i.Limits.NumClasses, i.Limits.HasStableSamplerHead, i.Limits.MaxRows, i.Source, active);

    static async Task<IResult> Generate([FromBody] ApiGenerateRequest body, ModelHost host, HttpContext http)
    {
        await host.Loaded;
        if (host.Info is null) return Results.Problem(host.LoadError, statusCode: StatusCodes.Status503ServiceUnavailable, title: "The model could not be loaded.");
        if (host.InfoFor(body.Model) is not { } info) return Results.BadRequest(new ApiValidationProblem(host.Validate(new GenerationRequest(), body.Model)));
        var request = body.ToRequest(info);
        var errors = host.Validate(request, body.Model).ToList();
        if (body.BatchSize != 1) errors.Add(new("batch", "POST /api/generate makes one image; use the hub (/hubs/generate) for batches."));
        if (errors.Count > 0) return Results.BadRequest(new ApiValidationProblem(errors));

        GenerationJob job;
        try { job = host.Submit(request, http.RequestAborted, body.Model); }
        catch (InvalidOperationException e) // queue full
        {
            return Results.Problem(e.Message, statusCode: StatusCodes.Status503ServiceUnavailable, title: "Busy.");
        }
        return await job.RunToEndAsync() switch
        {
            JobCompleted done => Results.File(done.Result.Pngs[0], "image/png", $"starstudio-{done.Result.Metadata[0].Seed}.png"),
            JobFailed failed => Results.Problem(failed.Message, statusCode: StatusCodes.Status500InternalServerError, title: "Generation failed."),
            _ => Results.StatusCode(499),
        };
    }
}
