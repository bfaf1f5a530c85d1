namespace ActorRefresh.Host;

internal static class Program
{
    public static int Main(string[] args)
    {
        Console.Error.WriteLine("actor-refresh: commands arrive with the host (serve, demo, status, token).");
        return args.Length == 0 ? 0 : 2;
    }
}
