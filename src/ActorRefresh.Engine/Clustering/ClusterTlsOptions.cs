using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ActorRefresh.Engine.Clustering;

/// <summary>
/// TLS for the cluster's remoting, bound from <c>ActorRefresh:Cluster:Tls</c>. Every connection between nodes is TLS with
/// both sides presenting a certificate (Akka.Remote's mutual authentication); each side accepts the other's certificate
/// only if it chains to <see cref="CaPath"/> (and, when <see cref="PeerThumbprints"/> is set, is one of them).
/// </summary>
public sealed class ClusterTlsOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string Section = ClusterOptions.Section + ":Tls";

    /// <summary>This node's certificate: a PKCS#12 file (<c>.pfx</c>/<c>.p12</c>, with its key) or a PEM certificate with <see cref="KeyPath"/>.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>Password of the PKCS#12 file, or of an encrypted PEM key.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>PEM private key of a PEM <see cref="CertificatePath"/> (not used with PKCS#12).</summary>
    public string? KeyPath { get; set; }

    /// <summary>PEM file with the CA certificate(s) a peer's certificate must chain to (only these are trusted, not the system store).</summary>
    public string? CaPath { get; set; }

    /// <summary>Optional: SHA-1 thumbprints (hex) of the only peer certificates accepted, on top of the CA check.</summary>
    public List<string> PeerThumbprints { get; set; } = [];

    /// <summary>True when any TLS key is set: TLS is then on and every required key must be valid.</summary>
    public bool Configured =>
        !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(KeyPath) || !string.IsNullOrWhiteSpace(CaPath) || PeerThumbprints.Count > 0;

    /// <summary>Returns the problems with these options, each naming its configuration key; empty when valid or not configured.</summary>
    public IReadOnlyList<string> Validate()
    {
        if (!Configured) return [];
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(CertificatePath)) errors.Add($"{Section}:CertificatePath is required with TLS (this node's certificate, PKCS#12 or PEM).");
        else if (!File.Exists(CertificatePath)) errors.Add($"{Section}:CertificatePath: file '{CertificatePath}' does not exist.");
        if (!string.IsNullOrWhiteSpace(KeyPath) && !File.Exists(KeyPath)) errors.Add($"{Section}:KeyPath: file '{KeyPath}' does not exist.");
        if (string.IsNullOrWhiteSpace(CaPath)) errors.Add($"{Section}:CaPath is required with TLS (the CA that signs every node's certificate).");
        else if (!File.Exists(CaPath)) errors.Add($"{Section}:CaPath: file '{CaPath}' does not exist.");
        foreach (var t in PeerThumbprints)
            if (t.Replace(":", "", StringComparison.Ordinal) is not { Length: > 0 } hex || !hex.All(Uri.IsHexDigit))
                errors.Add($"{Section}:PeerThumbprints entry '{t}' is not a hex thumbprint.");
        if (errors.Count > 0) return errors;
        try
        {
            using var certificate = LoadCertificate();
            if (!certificate.HasPrivateKey) errors.Add($"{Section}:CertificatePath: the certificate has no private key (give a PKCS#12 file with its key, or {Section}:KeyPath).");
        }
        catch (Exception e) when (e is CryptographicException or IOException or ArgumentException)
        {
            errors.Add($"{Section}:CertificatePath: cannot load the certificate{(string.IsNullOrWhiteSpace(KeyPath) ? "" : $" with {Section}:KeyPath")} ({e.GetType().Name}; check {Section}:CertificatePassword).");
        }
        try
        {
            var cas = LoadCa();
            if (cas.Count == 0) errors.Add($"{Section}:CaPath: '{CaPath}' holds no PEM certificate.");
            foreach (var ca in cas) ca.Dispose();
        }
        catch (Exception e) when (e is CryptographicException or IOException)
        {
            errors.Add($"{Section}:CaPath: cannot read '{CaPath}' as PEM certificates ({e.GetType().Name}).");
        }
        return errors;
    }

    /// <summary>This node's certificate with its private key, in a form SslStream can use on every platform.</summary>
    public X509Certificate2 LoadCertificate()
    {
        var path = CertificatePath ?? throw new InvalidOperationException($"{Section}:CertificatePath is not set.");
        if (!string.IsNullOrWhiteSpace(KeyPath))
        {
            using var pem = string.IsNullOrEmpty(CertificatePassword)
                ? X509Certificate2.CreateFromPemFile(path, KeyPath)
                : X509Certificate2.CreateFromEncryptedPemFile(path, CertificatePassword, KeyPath);
            // A PEM-loaded key is ephemeral; a PKCS#12 round trip gives a key the TLS stack can use for the handshake.
            return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
        }
        return X509CertificateLoader.LoadPkcs12FromFile(path, CertificatePassword);
    }

    /// <summary>The trusted CA certificates from <see cref="CaPath"/>.</summary>
    public X509Certificate2Collection LoadCa()
    {
        var cas = new X509Certificate2Collection();
        cas.ImportFromPemFile(CaPath ?? throw new InvalidOperationException($"{Section}:CaPath is not set."));
        return cas;
    }
}
