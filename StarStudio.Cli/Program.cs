#if PENDING
using StarStudio.Cli;
return await CliApp.RunAsync(args);
#else
return 0;
#endif
