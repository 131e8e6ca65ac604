import EchoShared
import Foundation

extension StaticAssets {
    /// Where the web client lives: `configured` when given (a wrong path then fails loudly in
    /// `init(root:)` instead of silently serving another copy), else the first of these folders that
    /// has an `index.html`:
    /// - `<binary dir>/../share/echo/web`: what `make install` lays out under the prefix;
    /// - `<binary dir>/../../web` and `<binary dir>/../../../web`: the repository's `web/` seen from
    ///   `.build/debug` (the path the binary was started by) and from `.build/<triple>/debug` (the
    ///   same folder with the symlink resolved);
    /// - `./web`.
    public static func locateRoot(configured: String?) -> String? {
        if let configured, !configured.isEmpty { return configured }
        let fileManager = FileManager.default
        let workingDirectory = fileManager.currentDirectoryPath
        var binaryDirectories: [String] = []
        if let resolved = ExecutablePath.directory {
            binaryDirectories.append(resolved)
        }
        if let started = CommandLine.arguments.first, started.contains("/") {
            let absolute = started.hasPrefix("/") ? started : workingDirectory + "/" + started
            binaryDirectories.append((absolute as NSString).deletingLastPathComponent)
        }
        return candidateRoots(binaryDirectories: binaryDirectories, workingDirectory: workingDirectory)
            .first { fileManager.fileExists(atPath: $0 + "/" + indexPath) }
    }

    /// The search order of ``locateRoot(configured:)``, without touching the disk.
    static func candidateRoots(binaryDirectories: [String], workingDirectory: String) -> [String] {
        var candidates: [String] = []
        for directory in binaryDirectories {
            for relative in ["../share/echo/web", "../../web", "../../../web"] {
                candidates.append(standardize(directory + "/" + relative))
            }
        }
        candidates.append(standardize(workingDirectory + "/web"))
        var seen = Set<String>()
        return candidates.filter { seen.insert($0).inserted }
    }

    private static func standardize(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// Every regular, non-hidden file under `root`, by path relative to it. Hidden files (editor
    /// swap files, `.DS_Store`) would otherwise be served and change the version on every save.
    /// A symlink is served only when it resolves inside `root`: a link to `/etc/passwd` (or to a
    /// folder outside) dropped into the web folder must not publish that file.
    static func readFiles(root: String) throws -> [String: [UInt8]] {
        let fileManager = FileManager.default
        guard let realRoot = realPath(root), let enumerator = fileManager.enumerator(atPath: root) else {
            throw StaticAssetsError(code: .unreadableRoot, path: root)
        }
        let inside = realRoot.hasSuffix("/") ? realRoot : realRoot + "/"
        var files: [String: [UInt8]] = [:]
        while let relative = enumerator.nextObject() as? String {
            guard !relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) else { continue }
            let full = root + "/" + relative
            guard let resolved = realPath(full), resolved.hasPrefix(inside) else { continue }
            var isDirectory: ObjCBool = false
            guard fileManager.fileExists(atPath: resolved, isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            guard let data = fileManager.contents(atPath: resolved) else {
                throw StaticAssetsError(code: .unreadableFile, path: full)
            }
            files[relative] = Array(data)
        }
        return files
    }

    /// The path with every symlink resolved (`realpath(3)`), or nil when it does not exist.
    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
