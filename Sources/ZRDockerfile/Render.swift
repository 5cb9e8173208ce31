// A stable, line-oriented dump of the AST (`zr build --print-ast`). One instruction header per
// line (`line:column NAME`), its fields indented below as `key: value @line:column`; strings are
// double-quoted with `\\ \" \n \r \t` and `\u{..}` escapes so every dump is one ASCII-safe text.
// The format is part of the golden tests: change it only together with the corpus.

extension Dockerfile {
    /// Renders the AST as stable, readable text (ends with a newline).
    public func render() -> String {
        var r = Renderer()
        r.line(0, "dockerfile \(quote(fileName))")
        if directives.syntax != nil || directives.check != nil || directives.escapePosition != nil {
            r.line(0, "directives:")
            if let s = directives.syntax { r.line(1, "syntax: \(word(s))") }
            if let p = directives.escapePosition { r.line(1, "escape: \(quote(String(directives.escape))) @\(p.line):\(p.column)") }
            if let c = directives.check { r.line(1, "check: \(word(c))") }
        }
        for i in instructions { r.instruction(i, 0) }
        if !warnings.isEmpty {
            r.line(0, "warnings:")
            for w in warnings { r.line(1, "\(w.position.line):\(w.position.column) \(w.kind.rawValue): \(w.message)") }
        }
        return r.out
    }
}

extension ResolvedDockerfile {
    /// Renders the resolved build (global ARGs, each stage's expanded FROM and expanded
    /// instructions) in the same style as `Dockerfile.render()`.
    public func render() -> String {
        var r = Renderer()
        r.line(0, "resolved")
        for k in declaredGlobalArgs {
            r.line(1, "global \(k)" + (globalArgs[k].map { " = \(quote($0))" } ?? " (unset)"))
        }
        for s in stages {
            var head = "stage \(s.index)"
            if let n = s.name { head += " \(quote(n))" }
            head += " from \(quote(s.baseName))"
            if let p = s.platform { head += " platform \(quote(p))" }
            r.line(0, head)
            for i in s.instructions { r.instruction(i.expanded, 1) }
            let env = s.finalScope.envOrder.map { "\($0)=\(quote(s.finalScope.env[$0] ?? ""))" }
            if !env.isEmpty { r.line(1, "env: " + env.joined(separator: " ")) }
        }
        return r.out
    }
}

extension StageGraph {
    /// Renders the graph: one line per stage with its base and the references it uses.
    public func render() -> String {
        func ref(_ r: Reference) -> String {
            switch r {
            case .scratch: return "scratch"
            case .image(let i): return "image \(quote(i))"
            case .stage(let s): return "stage \(s)"
            }
        }
        var out = "graph\n"
        for n in nodes {
            out += "  \(n.index)" + (n.name.map { " \(quote($0))" } ?? "") + " base \(ref(n.base))"
            if !n.uses.isEmpty { out += " uses [" + n.uses.map(ref).joined(separator: ", ") + "]" }
            out += "\n"
        }
        return out
    }
}

/// A double-quoted, escaped rendering of a string.
func quote(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 || c.value == 0x7F { out += "\\u{\(String(c.value, radix: 16))}" } else { out.unicodeScalars.append(c) }
        }
    }
    return out + "\""
}

func word(_ w: Word) -> String { "\(quote(w.text)) @\(w.position.line):\(w.position.column)" }

func words(_ ws: [Word]) -> String { "[" + ws.map(word).joined(separator: ", ") + "]" }

private func duration(_ ns: Int64) -> String {
    if ns % 1_000_000_000 == 0 { return "\(ns / 1_000_000_000)s" }
    if ns % 1_000_000 == 0 { return "\(ns / 1_000_000)ms" }
    return "\(ns)ns"
}

extension Instruction {
    /// The instruction without source positions or the keyword's spelling: equal for the same
    /// instruction anywhere in any Dockerfile (what a build cache key is made from).
    public var canonicalText: String {
        var r = Renderer()
        r.positions = false
        r.instruction(self, 0)
        return r.out
    }
}

struct Renderer {
    var out = String()
    /// False: no `@line:column`, no header line numbers (see `Instruction.canonicalText`).
    var positions = true

    func word(_ w: Word) -> String { positions ? ZRDockerfile.word(w) : quote(w.text) }
    func words(_ ws: [Word]) -> String { "[" + ws.map(word).joined(separator: ", ") + "]" }

    mutating func line(_ depth: Int, _ text: String) {
        out += String(repeating: "  ", count: depth) + text + "\n"
    }

    mutating func instruction(_ i: Instruction, _ d: Int) {
        var head = i.name
        if positions {
            head = "\(i.range.start.line):\(i.range.start.column) " + head
            if i.range.endLine != i.range.start.line { head += " (to line \(i.range.endLine))" }
            if i.keyword != i.name { head += " written \(quote(i.keyword))" }
        }
        line(d, head)
        let f = d + 1
        switch i.command {
        case .from(let x):
            if let p = x.platform { line(f, "platform: \(word(p))") }
            line(f, "image: \(word(x.image))")
            if let n = x.stageName { line(f, "as: \(word(n))") }
        case .run(let x):
            for m in x.mounts { line(f, "mount: " + mount(m)) }
            if let n = x.network { line(f, "network: \(n.rawValue)") }
            if let s = x.security { line(f, "security: \(s.rawValue)") }
            for d in x.devices { line(f, "device: \(d)") }
            form(x.command, f)
            for h in x.heredocs { heredoc(h, f) }
        case .cmd(let c), .entrypoint(let c):
            form(c, f)
        case .shell(let ws):
            line(f, "exec: \(words(ws))")
        case .env(let kvs), .label(let kvs):
            for kv in kvs { line(f, "\(word(kv.key)) = \(word(kv.value))") }
        case .arg(let a):
            for decl in a.declarations {
                line(f, "arg: \(word(decl.name))" + (decl.defaultValue.map { " = \(word($0))" } ?? ""))
            }
        case .expose(let ws):
            line(f, "ports: \(words(ws))")
        case .volume(let l):
            line(f, (l.isJSON ? "json: " : "paths: ") + words(l.items))
        case .user(let w), .workdir(let w), .stopSignal(let w), .maintainer(let w):
            line(f, "value: \(word(w))")
        case .copy(let c):
            if let x = c.from { line(f, "from: \(word(x))") }
            if let x = c.chown { line(f, "chown: \(word(x))") }
            if let x = c.chmod { line(f, "chmod: \(word(x))") }
            if c.link { line(f, "link: true") }
            if c.parents { line(f, "parents: true") }
            for e in c.excludes { line(f, "exclude: \(word(e))") }
            if c.isJSON { line(f, "form: json") }
            sources(c.sources, f)
            line(f, "dest: \(word(c.destination))")
        case .add(let a):
            if let x = a.chown { line(f, "chown: \(word(x))") }
            if let x = a.chmod { line(f, "chmod: \(word(x))") }
            if a.link { line(f, "link: true") }
            if let k = a.keepGitDir { line(f, "keep-git-dir: \(k)") }
            if let x = a.checksum { line(f, "checksum: \(word(x))") }
            for e in a.excludes { line(f, "exclude: \(word(e))") }
            if a.isJSON { line(f, "form: json") }
            sources(a.sources, f)
            line(f, "dest: \(word(a.destination))")
        case .onbuild(let inner):
            instruction(inner, f)
        case .healthcheck(let h):
            switch h {
            case .none:
                line(f, "none")
            case .check(let o, let c):
                if let v = o.interval { line(f, "interval: \(duration(v))") }
                if let v = o.timeout { line(f, "timeout: \(duration(v))") }
                if let v = o.startPeriod { line(f, "start-period: \(duration(v))") }
                if let v = o.startInterval { line(f, "start-interval: \(duration(v))") }
                if let v = o.retries { line(f, "retries: \(v)") }
                form(c, f)
            }
        }
    }

    mutating func form(_ c: CommandForm, _ d: Int) {
        switch c {
        case .shell(let w): line(d, "shell: \(word(w))")
        case .exec(let ws): line(d, "exec: \(words(ws))")
        }
    }

    mutating func sources(_ s: [FileSource], _ d: Int) {
        for src in s {
            switch src {
            case .path(let w): line(d, "src: \(word(w))")
            case .heredoc(let h): heredoc(h, d)
            }
        }
    }

    mutating func heredoc(_ h: Heredoc, _ d: Int) {
        var flags: [String] = []
        if h.stripsTabs { flags.append("strip-tabs") }
        flags.append(h.expands ? "expands" : "literal")
        if let fd = h.fileDescriptor { flags.append("fd=\(fd)") }
        line(d, "heredoc: \(quote(h.delimiter)) \(flags.joined(separator: " "))" + (positions ? " @\(h.position.line):\(h.position.column)" : ""))
        line(d + 1, "body: \(quote(h.body))")
    }

    func mount(_ m: RunMount) -> String {
        var parts = ["type=\(m.kind.rawValue)"]
        if let v = m.target { parts.append("target=\(quote(v))") }
        if let v = m.source { parts.append("source=\(quote(v))") }
        if let v = m.from { parts.append("from=\(quote(v))") }
        if let v = m.id { parts.append("id=\(quote(v))") }
        if let v = m.readOnly { parts.append("readonly=\(v)") }
        if let v = m.sharing { parts.append("sharing=\(v.rawValue)") }
        if let v = m.mode { parts.append("mode=0" + String(v, radix: 8)) }
        if let v = m.uid { parts.append("uid=\(v)") }
        if let v = m.gid { parts.append("gid=\(v)") }
        if let v = m.size { parts.append("size=\(v)") }
        if let v = m.required { parts.append("required=\(v)") }
        if let v = m.env { parts.append("env=\(quote(v))") }
        return parts.joined(separator: " ") + (positions ? " @\(m.position.line):\(m.position.column)" : "")
    }
}
