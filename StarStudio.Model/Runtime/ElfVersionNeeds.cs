// Reads and edits the GNU symbol-versioning sections of an ELF64 little-endian shared library:
// .gnu.version_r (what a library needs from others) and .gnu.version_d (what a library provides).
// Used to make TorchSharp's native glue load on systems with an older libstdc++ (see TorchNativeLoader).
using System.Buffers.Binary;
using System.Text;

namespace StarStudio.Model.Runtime;

/// <summary>One version a library needs from a dependency, e.g. GLIBCXX_3.4.32 from libstdc++.so.6.</summary>
/// <param name="File">The dependency's soname.</param>
/// <param name="Version">The version name.</param>
/// <param name="Flags">The vna_flags field (0x2 = VER_FLG_WEAK).</param>
/// <param name="FlagsOffset">Byte offset of vna_flags in the file, so it can be patched in place.</param>
/// <param name="Index">The version index (vna_other) that .gnu.version entries use to point at this need.</param>
public sealed record ElfVersionNeed(string File, string Version, ushort Flags, long FlagsOffset, ushort Index)
{
    public bool IsWeak => (Flags & ElfVersionNeeds.VerFlgWeak) != 0;
}

public static class ElfVersionNeeds
{
    public const ushort VerFlgWeak = 0x2;
    const uint ShtGnuVerdef = 0x6ffffffd;
    const uint ShtGnuVerneed = 0x6ffffffe;
    const uint ShtGnuVersym = 0x6fffffff;
    const uint ShtDynsym = 11;

    /// <summary>Every (file, version) pair listed in the library's .gnu.version_r section.</summary>
    public static IReadOnlyList<ElfVersionNeed> ReadNeeds(byte[] elf)
    {
        var needs = new List<ElfVersionNeed>();
        foreach (var (section, strtab) in SectionsOfType(elf, ShtGnuVerneed))
        {
            long entry = section.Offset;
            for (int i = 0; i < (int)section.Info; i++)
            {
                ushort cnt = U16(elf, entry + 2);
                string file = CString(elf, strtab.Offset + U32(elf, entry + 4));
                long aux = entry + U32(elf, entry + 8);
                for (int j = 0; j < cnt; j++)
                {
                    ushort flags = U16(elf, aux + 4);
                    ushort index = U16(elf, aux + 6);
                    string name = CString(elf, strtab.Offset + U32(elf, aux + 8));
                    needs.Add(new ElfVersionNeed(file, name, flags, aux + 4, index));
                    uint nextAux = U32(elf, aux + 12);
                    if (nextAux == 0) break;
                    aux += nextAux;
                }
                uint next = U32(elf, entry + 12);
                if (next == 0) break;
                entry += next;
            }
        }
        return needs;
    }

    /// <summary>Every version name a library defines in .gnu.version_d (e.g. GLIBCXX_3.4.30 for libstdc++).</summary>
    public static IReadOnlySet<string> ReadDefinitions(byte[] elf)
    {
        var defs = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (section, strtab) in SectionsOfType(elf, ShtGnuVerdef))
        {
            long entry = section.Offset;
            for (int i = 0; i < (int)section.Info; i++)
            {
                ushort cnt = U16(elf, entry + 6);
                long aux = entry + U32(elf, entry + 12);
                if (cnt > 0) defs.Add(CString(elf, strtab.Offset + U32(elf, aux)));
                uint next = U32(elf, entry + 16);
                if (next == 0) break;
                entry += next;
            }
        }
        return defs;
    }

    /// <summary>Names of the dynamic symbols bound to the given version index (via .gnu.version and .dynsym).</summary>
    public static IReadOnlyList<string> SymbolsWithVersion(byte[] elf, ushort versionIndex)
    {
        var sections = ReadSections(elf);
        var versym = sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        var dynsym = sections.FirstOrDefault(s => s.Type == ShtDynsym);
        if (versym.Type == 0 || dynsym.Type == 0) return [];
        var strtab = sections[(int)dynsym.Link];
        var names = new List<string>();
        long count = dynsym.Size / 24;
        for (long i = 0; i < count; i++)
        {
            // Bit 15 of a versym entry is the "hidden" flag, not part of the index.
            if ((U16(elf, versym.Offset + 2 * i) & 0x7fff) != versionIndex) continue;
            names.Add(CString(elf, strtab.Offset + U32(elf, dynsym.Offset + 24 * i)));
        }
        return names;
    }

    /// <summary>Marks the given needs weak (VER_FLG_WEAK), so the loader accepts a missing version.</summary>
    public static void MarkWeak(byte[] elf, IEnumerable<ElfVersionNeed> needs)
    {
        foreach (var need in needs)
        {
            ushort flags = U16(elf, need.FlagsOffset);
            BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan((int)need.FlagsOffset, 2), (ushort)(flags | VerFlgWeak));
        }
    }

    readonly record struct Section(uint Type, long Offset, long Size, uint Link, uint Info);

    static IEnumerable<(Section Section, Section StrTab)> SectionsOfType(byte[] elf, uint type)
    {
        var sections = ReadSections(elf);
        foreach (var s in sections)
        {
            if (s.Type != type) continue;
            if (s.Link >= sections.Count) throw new InvalidDataException("ELF version section links to a missing string table.");
            yield return (s, sections[(int)s.Link]);
        }
    }

    static List<Section> ReadSections(byte[] elf)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");
        long shoff = (long)U64(elf, 0x28);
        ushort shentsize = U16(elf, 0x3A);
        ushort shnum = U16(elf, 0x3C);
        if (shoff <= 0 || shentsize < 64 || shoff + (long)shentsize * shnum > elf.Length)
            throw new InvalidDataException("ELF section header table is out of range.");
        var list = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            long h = shoff + (long)i * shentsize;
            list.Add(new Section(U32(elf, h + 4), (long)U64(elf, h + 0x18), (long)U64(elf, h + 0x20), U32(elf, h + 0x28), U32(elf, h + 0x2C)));
        }
        return list;
    }

    static ushort U16(byte[] b, long at) => BinaryPrimitives.ReadUInt16LittleEndian(Slice(b, at, 2));
    static uint U32(byte[] b, long at) => BinaryPrimitives.ReadUInt32LittleEndian(Slice(b, at, 4));
    static ulong U64(byte[] b, long at) => BinaryPrimitives.ReadUInt64LittleEndian(Slice(b, at, 8));

    static ReadOnlySpan<byte> Slice(byte[] b, long at, int n)
    {
        if (at < 0 || at + n > b.Length) throw new InvalidDataException($"ELF read at offset {at} is out of range.");
        return b.AsSpan((int)at, n);
    }

    static string CString(byte[] b, long at)
    {
        if (at < 0 || at >= b.Length) throw new InvalidDataException($"ELF string offset {at} is out of range.");
        int end = Array.IndexOf(b, (byte)0, (int)at);
        if (end < 0) end = b.Length;
        return Encoding.ASCII.GetString(b, (int)at, end - (int)at);
    }
}
