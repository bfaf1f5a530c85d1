using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace ActorRefresh.Core.Files;

/// <summary>
/// Who owns a file system entry and who may write it, read without following links. .NET has no API for a file's
/// owner, so on Linux this asks the kernel through <c>statx(2)</c>, whose layout is the same on every architecture.
/// On other systems the owner is not known (<see cref="Inspect"/> returns a null owner) and only modes are checked.
/// </summary>
internal static partial class FileTrust
{
    /// <summary>The entry at a path, not following a final symbolic link.</summary>
    /// <param name="Exists">Whether there is an entry at all.</param>
    /// <param name="IsLink">A symbolic link.</param>
    /// <param name="IsDirectory">A directory.</param>
    /// <param name="Mode">Permission bits.</param>
    /// <param name="Owner">Owning user id; null when the system cannot tell.</param>
    internal readonly record struct Entry(bool Exists, bool IsLink, bool IsDirectory, UnixFileMode Mode, uint? Owner);

    /// <summary>Write access for group or others.</summary>
    public const UnixFileMode GroupOrOthersWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    /// <summary>Any access for group or others.</summary>
    public const UnixFileMode GroupOrOthersAny =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute |
        UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>The effective user id of this process; null off Linux.</summary>
    public static uint? CurrentUser => OperatingSystem.IsLinux() ? geteuid() : null;

    public static Entry Inspect(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            var buffer = new byte[256];
            if (statx(AtFdCwd, path, AtSymlinkNoFollow, StatxBasicStats, buffer) != 0)
                return default;
            var uid = BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(20));
            var mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(28));
            var type = mode & 0xF000;
            return new Entry(true, type == 0xA000, type == 0x4000, (UnixFileMode)(mode & 0xFFF), uid);
        }

        var info = new FileInfo(path);
        if (info.LinkTarget is not null) return new Entry(true, true, false, default, null);
        if (Directory.Exists(path))
            return new Entry(true, false, true, OperatingSystem.IsWindows() ? default : new DirectoryInfo(path).UnixFileMode, null);
        return info.Exists ? new Entry(true, false, false, OperatingSystem.IsWindows() ? default : info.UnixFileMode, null) : default;
    }

    /// <summary>Why an existing entry cannot be trusted to hold secrets this process writes or reads, or null.</summary>
    /// <param name="entry">What <see cref="Inspect"/> returned.</param>
    /// <param name="forbidden">Mode bits that make it untrusted (<see cref="GroupOrOthersAny"/> for a secret, <see cref="GroupOrOthersWrite"/> for a folder on its path).</param>
    public static string? Distrust(Entry entry, UnixFileMode forbidden)
    {
        if (entry.IsLink) return "is a symbolic link";
        if (entry.Owner is { } owner && CurrentUser is { } self && owner != self)
            return $"is owned by user {owner}, not by this server's user {self}";
        if (!OperatingSystem.IsWindows() && (entry.Mode & forbidden) != 0)
            return $"has mode {Octal(entry.Mode)}: group or others may {((forbidden & ~GroupOrOthersWrite) == 0 ? "write" : "access")} it";
        return null;
    }

    public static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0x1FF, 8).PadLeft(3, '0');

    private const int AtFdCwd = -100;
    private const int AtSymlinkNoFollow = 0x100;
    private const uint StatxBasicStats = 0x7FF;

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string pathname, int flags, uint mask, [Out] byte[] buffer);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint geteuid();
}
