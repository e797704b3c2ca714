using StarStudio.Cli;

return await CliApp.RunAsync(args);
