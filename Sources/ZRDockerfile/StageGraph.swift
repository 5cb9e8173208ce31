// Stage dependencies, reference "Multi-stage builds" and "COPY --from": a reference is a stage
// index, a stage name (case-insensitive), or else an image. As in BuildKit, `COPY --from` and
// `RUN --mount from=` may name any stage (also a later one) and cycles are rejected, while FROM
// only sees the stages before it.

/// Which stages depend on which, and which a `--target` build needs.
public struct StageGraph: Sendable, Equatable {
    /// What a stage, or a `COPY --from`/`RUN --mount from=`, refers to.
    public enum Reference: Sendable, Hashable {
        /// No base (`FROM scratch`).
        case scratch
        /// An image in a registry (or a named build context).
        case image(String)
        /// Another stage, by index.
        case stage(Int)
    }

    /// One stage and its edges.
    public struct Node: Sendable, Equatable {
        /// Stage index.
        public var index: Int
        /// Stage name, lower-cased.
        public var name: String?
        /// The FROM base.
        public var base: Reference
        /// `COPY --from` and `RUN --mount ...,from=` references, in order, without duplicates.
        public var uses: [Reference]
        /// Stage indices this stage depends on (base and uses).
        public var dependencies: [Int] {
            var out: [Int] = []
            for r in [base] + uses { if case .stage(let i) = r, !out.contains(i) { out.append(i) } }
            return out
        }
    }

    /// The stages, by index.
    public var nodes: [Node]

    /// Builds the graph from a resolved Dockerfile; throws for `--from=N` out of range and for
    /// cycles.
    public init(_ resolved: ResolvedDockerfile) throws(DockerfileError) {
        var byName: [String: Int] = [:]
        for s in resolved.stages { if let n = s.name, byName[n] == nil { byName[n] = s.index } }
        let count = resolved.stages.count
        let names = resolved.stages.compactMap(\.name)
        /// `isBase`: a FROM line, which (as in BuildKit) only sees the stages defined before it, so
        /// `FROM node AS node` names the image.
        func ref(_ text: String, at: SourcePosition, from stage: Int, isBase: Bool) throws(DockerfileError) -> Reference {
            if !isBase, !text.isEmpty, text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) {
                guard let i = Int(text), i < count else {
                    throw .unknownStage(name: text, suggestion: count > 0 ? "stage indices go from 0 to \(count - 1)" : nil, at: at)
                }
                return .stage(i)
            }
            if let i = byName[text.lowercased()], !isBase || i < stage { return .stage(i) }
            if text.lowercased() == "scratch" { return .scratch }
            // BuildKit takes any other name for an image. A bare word (no registry, tag, digest or
            // path) one or two edits away from a stage name is almost surely a typo, and pulling
            // "biuld" from Docker Hub would fail far from the cause: report it here.
            if !isBase, !text.unicodeScalars.contains(where: { ":/@.".unicodeScalars.contains($0) }),
               let near = closest(to: text.lowercased(), in: names) {
                throw .unknownStage(name: text, suggestion: near, at: at)
            }
            return .image(text)
        }
        var nodes: [Node] = []
        for s in resolved.stages {
            let fromPos = s.from.range.start
            let base = try ref(s.baseName, at: fromPos, from: s.index, isBase: true)
            var uses: [Reference] = []
            for ins in s.instructions {
                switch ins.expanded.command {
                case .copy(let c):
                    if let f = c.from {
                        let r = try ref(f.text, at: f.position, from: s.index, isBase: false)
                        if !uses.contains(r) { uses.append(r) }
                    }
                case .run(let r):
                    for m in r.mounts {
                        if let f = m.from {
                            let x = try ref(f, at: m.position, from: s.index, isBase: false)
                            if !uses.contains(x) { uses.append(x) }
                        }
                    }
                default: break
                }
            }
            nodes.append(Node(index: s.index, name: s.name, base: base, uses: uses))
        }
        self.nodes = nodes
        // Cycle check: depth-first search with colours; report the cycle's stage names.
        var colour = [Int](repeating: 0, count: count)
        var stack: [Int] = []
        func label(_ i: Int) -> String { nodes[i].name ?? String(i) }
        func visit(_ i: Int) throws(DockerfileError) {
            colour[i] = 1
            stack.append(i)
            for d in nodes[i].dependencies {
                if colour[d] == 1 {
                    let start = stack.lastIndex(of: d) ?? 0
                    let cycle = stack[start...].map(label) + [label(d)]
                    throw .stageCycle(cycle: cycle, at: resolved.stages[i].from.range.start)
                }
                if colour[d] == 0 { try visit(d) }
            }
            stack.removeLast()
            colour[i] = 2
        }
        for i in 0..<count where colour[i] == 0 { try visit(i) }
    }

    /// The index of the `--target` stage (by name, case-insensitive), or the last stage.
    public func targetIndex(_ target: String?, at: SourcePosition) throws(DockerfileError) -> Int {
        guard let target else {
            guard let last = nodes.last else { throw .missingFrom(at: at) }
            return last.index
        }
        if let n = nodes.first(where: { $0.name == target.lowercased() }) { return n.index }
        throw .unknownStage(name: target, suggestion: closest(to: target.lowercased(), in: nodes.compactMap(\.name)), at: at)
    }

    /// The stages a build of `target` needs, dependencies first (a valid build order).
    public func stagesNeeded(for target: String?, at: SourcePosition) throws(DockerfileError) -> [Int] {
        let t = try targetIndex(target, at: at)
        var seen = Set<Int>(), order: [Int] = []
        func visit(_ i: Int) {
            guard seen.insert(i).inserted else { return }
            for d in nodes[i].dependencies { visit(d) }
            order.append(i)
        }
        visit(t)
        return order
    }
}
