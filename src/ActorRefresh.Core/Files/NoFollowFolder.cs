using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace ActorRefresh.Core.Files;

/// <summary>A folder, or a file in it, could not be reached or written without following a link. The message names no path.</summary>
internal sealed class NoFollowException(string fault, bool refused = false) : IOException(fault)
{
    /// <summary>A link (or a non-folder) was met where none may be: a refusal, not an I/O failure.</summary>
    public bool Refused { get; } = refused;
}

/// <summary>
/// A folder opened on Linux one component at a time from <c>/</c> with <c>openat(2)</c> and
/// <c>O_NOFOLLOW | O_DIRECTORY</c>, so no level of the path can be a symbolic link, not even one swapped in after a
/// check; files are then read and written relative to the folder's descriptor (<c>openat</c>, <c>renameat</c>), never
/// by name from the root again.
/// </summary>
internal sealed partial class NoFollowFolder : IDisposable
{
    private readonly SafeFileHandle _dir;

    private NoFollowFolder(SafeFileHandle dir) => _dir = dir;

    /// <summary>True where this class works (Linux); elsewhere callers use the path-based code.</summary>
    public static bool IsSupported => OperatingSystem.IsLinux();

    /// <summary>Opens <paramref name="fullPath"/> (absolute) without following a link at any level.</summary>
    /// <exception cref="NoFollowException">A level is a link, not a folder, or missing.</exception>
    public static NoFollowFolder Open(string fullPath)
    {
        if (!Path.IsPathFullyQualified(fullPath)) throw new ArgumentException("The folder must be an absolute path.", nameof(fullPath));
        var current = Check(open("/", ODirectory | OCloexec | ORdonly));
        foreach (var part in fullPath.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part is "." or "..")
            {
                current.Dispose();
                throw new NoFollowException("the path has a '.' or '..' component.");
            }
            var next = openat(current, part, ODirectory | ONofollow | OCloexec | ORdonly);
            current.Dispose();
            current = Check(next);
        }
        return new NoFollowFolder(current);
    }

    /// <summary>Whether an entry of that name exists in the folder (links included, not followed).</summary>
    public bool Exists(string name) => Stat(_dir, name, AtSymlinkNoFollow) is not null;

    /// <summary>Reads a regular file of the folder, refusing a link, a file of another user and one group or others may access.</summary>
    /// <exception cref="NoFollowException">The file is missing, a link, not regular, too large or not private.</exception>
    public byte[] ReadPrivateFile(string name, long maxBytes)
    {
        using var file = Check(openat(_dir, name, ORdonly | ONofollow | OCloexec | ONonblock), file: true);
        var stat = Stat(file, "", AtEmptyPath) ?? throw new NoFollowException("cannot be inspected.");
        if (stat.Type != 0x8000) throw new NoFollowException("is not a regular file.");
        if (FileTrust.CurrentUser is { } self && stat.Owner != self) throw new NoFollowException($"is owned by user {stat.Owner}, not by this server's user.");
        if ((stat.Mode & FileTrust.GroupOrOthersAny) != 0)
            throw new NoFollowException($"has insecure permissions {FileTrust.Octal(stat.Mode)} (group or others may access it); run chmod 600 on it.");
        if (stat.Size > maxBytes) throw new NoFollowException($"is larger than {maxBytes} bytes; not a credentials file.");
        var bytes = new byte[stat.Size];
        var read = 0;
        while (read < bytes.Length)
        {
            var n = RandomAccess.Read(file, bytes.AsSpan(read), read);
            if (n == 0) break;
            read += n;
        }
        return read == bytes.Length ? bytes : bytes[..read];
    }

    /// <summary>
    /// Replaces <paramref name="name"/> atomically: a temporary file created 0600 with <c>O_EXCL | O_NOFOLLOW</c> in this
    /// folder, flushed to disk, then <c>renameat</c> within the folder (a link at <paramref name="name"/> is replaced, not followed).
    /// </summary>
    /// <exception cref="NoFollowException">The file cannot be written.</exception>
    public void WriteAtomically(string name, ReadOnlySpan<byte> bytes)
    {
        var temp = $".{name}.{Guid.NewGuid():N}.tmp";
        var fd = openat(_dir, temp, OWronly | OCreat | OExcl | ONofollow | OCloexec, 0x180);
        using (var file = Check(fd, file: true))
        {
            try
            {
                RandomAccess.Write(file, bytes, 0);
                if (fsync(file) != 0) throw new NoFollowException($"cannot be flushed to disk (errno {Marshal.GetLastPInvokeError()}).");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _ = unlinkat(_dir, temp, 0);
                throw ex as NoFollowException ?? new NoFollowException($"cannot be written ({ex.GetType().Name}).");
            }
        }
        if (renameat(_dir, temp, _dir, name) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            _ = unlinkat(_dir, temp, 0);
            throw new NoFollowException($"cannot be replaced (errno {errno}).");
        }
        _ = fsync(_dir);
    }

    public void Dispose() => _dir.Dispose();

    private static SafeFileHandle Check(SafeFileHandle handle, bool file = false)
    {
        if (!handle.IsInvalid) return handle;
        var errno = Marshal.GetLastPInvokeError();
        handle.Dispose();
        throw new NoFollowException(errno switch
        {
            Eloop or Enotdir when file => "is a symbolic link; refusing to follow it.",
            Eloop or Enotdir => "a folder on the way to it is a symbolic link or not a folder; refusing to follow it.",
            Enoent when file => "does not exist.",
            Enoent => "a folder on the way to it does not exist.",
            Eacces => file ? "cannot be opened (permission denied)." : "a folder on the way to it cannot be opened (permission denied).",
            _ => $"cannot be opened (errno {errno}).",
        }, refused: errno is Eloop or Enotdir);
    }

    private readonly record struct StatInfo(int Type, UnixFileMode Mode, uint Owner, long Size);

    private static StatInfo? Stat(SafeFileHandle dir, string name, int flags)
    {
        var buffer = new byte[256];
        if (statx(dir, name, flags, 0x7FF, buffer) != 0) return null;
        var mode = BinaryPrimitives.ReadUInt16LittleEndian(buffer.AsSpan(28));
        return new StatInfo(mode & 0xF000, (UnixFileMode)(mode & 0xFFF), BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(20)),
            (long)BinaryPrimitives.ReadUInt64LittleEndian(buffer.AsSpan(40)));
    }

    private const int Enoent = 2, Eacces = 13, Enotdir = 20, Eloop = 40;
    private const int ORdonly = 0, OWronly = 1, OCreat = 0x40, OExcl = 0x80, ONonblock = 0x800, OCloexec = 0x80000;
    private const int AtSymlinkNoFollow = 0x100, AtEmptyPath = 0x1000;

    // O_DIRECTORY and O_NOFOLLOW differ between architectures (asm-generic vs. the ARM ABIs).
    private static readonly bool ArmFlags = RuntimeInformation.ProcessArchitecture is Architecture.Arm or Architecture.Arm64;
    private static int ODirectory => ArmFlags ? 0x4000 : 0x10000;
    private static int ONofollow => ArmFlags ? 0x8000 : 0x20000;

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial SafeFileHandle open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "openat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial SafeFileHandle openat(SafeFileHandle dirfd, string path, int flags, int mode = 0);

    [LibraryImport("libc", EntryPoint = "renameat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat(SafeFileHandle olddirfd, string oldpath, SafeFileHandle newdirfd, string newpath);

    [LibraryImport("libc", EntryPoint = "unlinkat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(SafeFileHandle dirfd, string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(SafeFileHandle fd);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(SafeFileHandle dirfd, string pathname, int flags, uint mask, [Out] byte[] buffer);
}
