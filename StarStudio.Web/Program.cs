using StarStudio.Web;

StarStudioApp.Build(args).Run();

/// <summary>Entry point type, visible to tests that start the app.</summary>
public partial class Program;
