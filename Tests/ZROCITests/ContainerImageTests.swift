import Testing
@testable import ZROCI

struct ContainerImageTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var canonical: String
        var user: String?
        var origin: ContainerImage.Origin?
        var testDescription: String { input }
    }

    static func c(_ input: String, _ canonical: String, user: String? = nil, _ origin: ContainerImage.Origin? = nil) -> Case {
        Case(input: input, canonical: canonical, user: user, origin: origin)
    }

    /// pyxis/enroot forms and zeroroot's own, with what each resolves to.
    static let acceptedCases: [Case] = [
        c("ubuntu:22.04", "ubuntu:22.04", .storeThenRegistry),
        c("app", "app:latest", .storeThenRegistry),
        c("team/app:1", "team/app:1", .storeThenRegistry),
        c("docker://ubuntu", "ubuntu:latest", .storeThenRegistry),
        c("nvcr.io#nvidia/pytorch:24.01-py3", "nvcr.io/nvidia/pytorch:24.01-py3", .registry),
        c("docker://nvcr.io#nvidia/pytorch:24.01-py3", "nvcr.io/nvidia/pytorch:24.01-py3", .registry),
        c("docker://bob@nvcr.io#nvidia/cuda", "nvcr.io/nvidia/cuda:latest", user: "bob", .registry),
        c("bob@ubuntu:22.04", "ubuntu:22.04", user: "bob", .storeThenRegistry),
        c("127.0.0.1:5000#zr/base:1", "127.0.0.1:5000/zr/base:1", .registry),
        c("localhost#team/app", "localhost/team/app:latest", .registry),
        c("ghcr.io/org/app:2", "ghcr.io/org/app:2", .registry),
        c("docker.io#library/ubuntu:24.04", "ubuntu:24.04", .registry),
        c("dockerd://app:3", "app:3", .store),
        c("app@sha256:" + String(repeating: "a", count: 64), "app@sha256:" + String(repeating: "a", count: 64), .storeThenRegistry),
        c("/scratch/u/image.sqfs", "/scratch/u/image.sqfs"),
        c("./image.sqfs", "./image.sqfs"),
        c("../images/rootfs", "../images/rootfs"),
    ]

    @Test(arguments: acceptedCases)
    func accepted(_ t: Case) throws {
        let image = try ContainerImage(parsing: t.input)
        #expect(image.canonical == t.canonical)
        switch image {
        case .path:
            #expect(t.origin == nil)
        case .image(_, let user, let origin):
            #expect(user == t.user)
            #expect(origin == t.origin)
        }
    }

    static let refusedCases: [(String, String)] = [
        ("", "empty value"),
        ("oras://ghcr.io/x", "unknown scheme oras://"),
        ("@nvcr.io#x", "the user before '@'"),
        ("dockerd://bob@app", "a USER@ for registry credentials does not apply"),
        ("dockerd://nvcr.io#x", "it takes no REGISTRY#"),
        ("nvcr.io#", "with both parts"),
        ("#nvidia/cuda", "with both parts"),
        ("myregistry#app", "\"myregistry\" before '#' is not a registry host"),
        ("Ubuntu", "bad image name \"Ubuntu\""),
        ("nvcr.io#nvidia/pytorch:bad tag", "bad image name"),
    ]

    @Test(arguments: refusedCases)
    func refused(_ input: String, _ words: String) {
        #expect {
            _ = try ContainerImage(parsing: input)
        } throws: { error in
            (error as? ContainerImageError)?.description.contains(words) == true
        }
    }
}
