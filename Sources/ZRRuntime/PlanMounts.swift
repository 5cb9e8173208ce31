import Glibc
import ZRSystem
import ZRVocabulary

/// The mounts inside a container's root, in order, each with the mount point the root must
/// have (in the skeleton layer, or created in a writable directory image), as the plan
/// computes them before it knows how the root itself is made.
struct InsideMounts {
    var inside: [(steps: [MountStep], point: MountPoint)] = []
    /// Device nodes bound below /dev: their mount points are the host's nodes, or ours.
    var deviceSteps: [MountStep] = []
    /// Host libraries checked against the image's before any mount hides them.
    var libraryChecks: [MountStep] = []
    /// `umount:` entries, after every other mount.
    var unmounts: [MountStep] = []
    /// Destinations so far: a later mount below one is not confined.
    var mounted: [String] = []

    mutating func add(_ step: MountStep, _ point: MountPoint, then more: [MountStep] = []) {
        inside.append(([step] + more, point))
        mounted.append(point.path)
    }

    func confined(_ path: String) -> Bool {
        !mounted.contains { path == $0 || path.hasPrefix($0 == "/" ? "/" : $0 + "/") }
    }

    init(_ spec: ContainerSpec, host: some HostFacts) throws(RuntimeError) {
        var binds: [ContainerSpec.Bind] = []
        for bind in spec.binds {
            var resolved = bind
            if bind.kind == .bind { resolved.source = try ContainerPlan.realPath(bind.source, step: spec.terms.bind, host: host) }
            binds.append(resolved)
        }
        let home = try spec.home.map { h throws(RuntimeError) in try ContainerPlan.realPath(h, step: "home", host: host) }
        let devices = spec.devices
        // A node the host's /dev lacks needs a /dev of our own to hold its mount point; so do
        // host nodes the container must not see.
        let hidden = devices.hiddenNodes.filter { host.isDirectory($0) != nil }
        let ownDev = !hidden.isEmpty || devices.nodes.contains { $0.path.hasPrefix("/dev/") && host.isDirectory($0.path) == nil }
        for dir in ["/dev", "/proc", "/sys"] {
            let step: MountStep = dir == "/dev" && ownDev ? .populatedDev(hiding: hidden)
                : .bind(source: dir, inside: dir, recursive: true, readOnly: false, confined: true)
            add(step, .init(dir, directory: true))
        }
        let directoryImage: Bool
        if case .directory = spec.image { directoryImage = true } else { directoryImage = false }
        for file in ContainerPlan.hostFiles where host.isDirectory(file) == false {
            add(.hostFile(file, create: directoryImage && spec.writable), .init(file, directory: false))
        }
        switch spec.tmp {
        case .privateTmpfs: add(.tmpfs(inside: "/tmp", options: "mode=1777"), .init("/tmp", directory: true))
        // Recursive: a host with mounts below /tmp (per-job tmpfs, other containers) has them
        // locked in a user namespace, and a plain bind of /tmp is then refused (EINVAL).
        case .host: add(.bind(source: "/tmp", inside: "/tmp", recursive: true, readOnly: false, confined: true),
                        .init("/tmp", directory: true))
        case .image: break
        }
        if let home, let path = spec.home {
            let step: MountStep = directoryImage ? .home(home)
                : .bind(source: home, inside: path, recursive: true, readOnly: false, confined: confined(path))
            add(step, .init(path, directory: true))
        }
        for bind in binds { addBind(bind, host: host) }
        addDevices(devices, ownDev: ownDev, host: host)
    }

    /// A user's mount: a host path, a tmpfs, or an unmount (done once every mount is made, so
    /// that it can remove any of them), each followed by its flags.
    mutating func addBind(_ bind: ContainerSpec.Bind, host: some HostFacts) {
        let path = bind.destination
        var more: [MountStep] = []
        var restrictions = bind.restrictions
        if bind.kind == .tmpfs { restrictions.readOnly = bind.readOnly }
        if !restrictions.isEmpty { more.append(.restrict(inside: path, restrictions)) }
        if let propagation = bind.propagation { more.append(.propagation(inside: path, propagation)) }
        switch bind.kind {
        case .bind:
            add(.bind(source: bind.source, inside: path, recursive: bind.recursive, readOnly: bind.readOnly,
                      confined: confined(path)),
                .init(path, directory: host.isDirectory(bind.source) ?? false), then: more)
        case .tmpfs:
            add(.tmpfs(inside: path, options: "mode=755"), .init(path, directory: true), then: more)
        case .unmount:
            unmounts.append(.unmount(inside: path))
        }
    }

    mutating func addDevices(_ devices: DeviceEdits, ownDev: Bool, host: some HostFacts) {
        for node in devices.nodes {
            let step = MountStep.bind(source: node.source, inside: node.path, recursive: false, readOnly: false,
                                      confined: !node.path.hasPrefix("/dev/") && confined(node.path))
            guard node.path.hasPrefix("/dev/") else {
                add(step, .init(node.path, directory: false))
                continue
            }
            // The host's own node at its own path is there already, unless /dev is ours.
            guard node.source != node.path || ownDev else { continue }
            if ownDev || host.isDirectory(node.path) == nil {
                deviceSteps.append(.createMountPoint(.init(node.path, directory: false)))
            }
            deviceSteps.append(step)
        }
        for mount in devices.mounts {
            let restrictions = MountRestrictions(readOnly: mount.readOnly, noSUID: mount.noSUID,
                                                 noDevices: mount.noDevices, noExec: mount.noExec)
            if LibraryName.major(of: mount.source) != nil {
                libraryChecks.append(.checkLibrary(source: mount.source, inside: mount.destination))
            }
            add(.bind(source: mount.source, inside: mount.destination, recursive: mount.recursive, readOnly: false,
                      confined: confined(mount.destination)),
                .init(mount.destination, directory: host.isDirectory(mount.source) ?? false),
                then: restrictions.isEmpty ? [] : [.restrict(inside: mount.destination, restrictions)])
        }
    }
}

extension ContainerPlan {
    /// A directory image bound onto itself; a writable one gets missing bind targets created
    /// before any host mount is in place, a read-only one is remounted so at the end.
    static func directorySteps(_ path: String, writable: Bool, mounts: InsideMounts, devices: DeviceEdits,
                               host: some HostFacts) throws(RuntimeError) -> (root: String, steps: [MountStep], scratch: String?) {
        let root = try realPath(path, step: "rootfs", host: host)
        guard host.isDirectory(root) == true else { throw .notADirectory(path) }
        var steps: [MountStep] = [.bindRoot(root)] + mounts.libraryChecks
        if writable {
            // Binds only: the host files and home have their own fallbacks.
            for (mountSteps, point) in mounts.inside {
                if case .bind(_, let target, _, _, _) = mountSteps[0], !["/dev", "/proc", "/sys", "/tmp"].contains(target) {
                    steps.append(.createMountPoint(point))
                }
            }
        } else {
            // Nothing can be created in a read-only directory image: say so before mounting.
            let targets = devices.mounts.map(\.destination) + devices.nodes.map(\.path).filter { !$0.hasPrefix("/dev/") }
            for target in targets where host.isDirectory(root + target) == nil {
                throw .noDeviceMountPoint(target, image: root)
            }
        }
        steps += mounts.inside.flatMap(\.steps) + mounts.deviceSteps
        steps += writable ? devices.links.map { .link($0) } : [.readOnlyRoot(root)]
        return (root, steps, nil)
    }

    /// Layers stacked with overlayfs over the skeleton layer, on a private tmpfs in `scratch`.
    static func layerSteps(_ layers: [String], scratch scratchPath: String, changes: ContainerSpec.Changes,
                           mounts: InsideMounts, spec: ContainerSpec,
                           host: some HostFacts) throws(RuntimeError) -> (root: String, steps: [MountStep], scratch: String?) {
        guard !layers.isEmpty || spec.squashfs != nil else { throw .notADirectory("(no layers)") }
        var lower: [String] = []
        for layer in layers {
            let path = try realPath(layer, step: spec.terms.layer, host: host)
            guard host.isDirectory(path) == true else { throw .notADirectory(layer, what: spec.terms.layer) }
            lower.append(path)
        }
        for (_, point) in mounts.inside { try checkInsidePath(point.path, what: "mount point") }
        for link in spec.devices.links { try checkInsidePath(link.link, what: "symlink") }
        let scratch = try realPath(scratchPath, orCreated: true, step: "scratch", host: host)
        let skeleton = scratch + "/skeleton"
        var steps: [MountStep] = [.scratch(scratch)]
        if let squashfs = spec.squashfs {
            let file = try realPath(squashfs.file, step: "squashfs", host: host)
            guard host.isDirectory(file) == false else { throw .setup(SystemError("squashfs", path: squashfs.file, errno: EISDIR)) }
            var served = squashfs
            served.file = file
            steps.append(.squashfs(served, at: scratch + "/squashfs"))
            lower.insert(scratch + "/squashfs", at: 0)
        }
        // A read-only root's rebuilt ld.so cache is bound over the image's.
        let cachePoint = (spec.devices.libraryDirectories.isEmpty && spec.devices.cudaCompatibility == nil) || spec.writable ? []
            : [MountPoint("/etc/ld.so.cache", directory: false)]
        steps.append(.skeleton(skeleton, entries: mounts.inside.map(\.point) + cachePoint, links: spec.devices.links))
        var upper: String?, work: String?
        switch changes {
        case .none: break
        case .discarded:
            upper = scratch + "/upper"
            work = scratch + "/work"
        case .kept(let dir):
            let kept = try realPath(dir, step: "changes", host: host)
            upper = kept + "/upper"
            work = kept + "/work"
        }
        if let upper, let work { steps.append(.directories([upper, work])) }
        // The skeleton is the bottom layer: the image's own directories keep their modes,
        // times and owner records (a step's copy-ups stay faithful), and only what the
        // image lacks comes from the skeleton.
        steps.append(.overlay(lower: [skeleton] + lower, upper: upper, work: work, at: scratch + "/root"))
        steps += mounts.libraryChecks + mounts.inside.flatMap(\.steps) + mounts.deviceSteps
        return (scratch + "/root", steps, scratch)
    }
}
