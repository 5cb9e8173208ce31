import ZRCDI
import Yams

/// YAML spec files for ZRCDI, through Yams (which needs Foundation: zr and the Slurm plugin link
/// this, zr-run does not). Lines are kept, so errors say where in the file.
public enum CDIYAML {
    public static let reader: CDIYAMLReader = { (text, file) throws(CDIError) in
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw CDIError(file + ": not valid YAML: " + (error.description.split(separator: "\n").first.map(String.init) ?? ""))
        } catch {
            throw CDIError(file + ": not valid YAML: \(error)")
        }
        guard let root else { throw CDIError(file + ": empty spec") }
        return try document(root, file: file)
    }

    static func document(_ node: Node, file: String) throws(CDIError) -> CDIDocument {
        let line = node.mark?.line
        switch node {
        case .scalar(let scalar):
            if scalar.style == .plain, ["null", "~", ""].contains(scalar.string) { return .null(line: line) }
            return .scalar(scalar.string, line: line)
        case .sequence(let sequence):
            var items: [CDIDocument] = []
            for item in sequence { items.append(try document(item, file: file)) }
            return .array(items, line: line)
        case .mapping(let mapping):
            var members: [CDIDocument.Member] = []
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw CDIError(file + (key.mark.map { ":\($0.line)" } ?? "") + ": field names must be strings")
                }
                members.append(.init(key: name, keyLine: key.mark?.line, value: try document(value, file: file)))
            }
            return .object(members, line: line)
        case .alias:
            throw CDIError(file + (line.map { ":\($0)" } ?? "") + ": YAML aliases are not used in CDI specs")
        }
    }
}
