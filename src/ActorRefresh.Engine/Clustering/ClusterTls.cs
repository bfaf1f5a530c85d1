using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace ActorRefresh.Engine.Clustering;

/// <summary>Builds Akka.Remote's TLS setup from <see cref="ClusterTlsOptions"/>: mutual authentication, peers checked against the configured CA.</summary>
internal static class ClusterTls
{
    /// <summary>
    /// The DotNetty TLS setup: this node's certificate, mutual authentication required (each side must present a
    /// certificate), and a validator that replaces the system-store check with <see cref="AcceptsPeer"/>.
    /// </summary>
    public static DotNettySslSetup CreateSetup(ClusterTlsOptions tls)
    {
        var certificate = tls.LoadCertificate();
        var cas = tls.LoadCa();
        var pinned = tls.PeerThumbprints.Select(Normalize).ToHashSet(StringComparer.Ordinal);
        return new DotNettySslSetup(certificate, suppressValidation: false, requireMutualAuthentication: true,
            customValidator: (peer, _, remote, _, log) =>
            {
                var accepted = AcceptsPeer(peer, cas, pinned, out var reason);
                if (!accepted) log?.Warning("Cluster TLS: refused the certificate of {Remote}: {Reason}", remote, reason);
                return accepted;
            });
    }

    /// <summary>
    /// True when <paramref name="peer"/> chains to one of <paramref name="cas"/> (custom root trust: the system store
    /// plays no part, so a certificate from any other CA is refused) and, when <paramref name="pinned"/> is not empty,
    /// its thumbprint is one of them. Revocation is not checked (private CAs here publish no CRL).
    /// </summary>
    public static bool AcceptsPeer(X509Certificate2? peer, X509Certificate2Collection cas, IReadOnlySet<string> pinned, out string reason)
    {
        if (peer is null)
        {
            reason = "no certificate presented";
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(cas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (!chain.Build(peer))
        {
            reason = "it does not chain to the configured CA (" + string.Join(", ", chain.ChainStatus.Select(s => s.Status)) + ")";
            return false;
        }
        if (pinned.Count > 0 && !pinned.Contains(Normalize(peer.Thumbprint)))
        {
            reason = $"thumbprint {peer.Thumbprint} is not in {ClusterTlsOptions.Section}:PeerThumbprints";
            return false;
        }
        reason = "";
        return true;
    }

    private static string Normalize(string thumbprint) => thumbprint.Replace(":", "", StringComparison.Ordinal).ToUpperInvariant();

}
