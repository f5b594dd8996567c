import JSON
/// A Socket.IO v5 packet: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, with binary
/// attachments sent as separate Engine.IO binary messages and referenced by placeholders.
public struct SocketIOPacket: Sendable, Equatable {
    public enum Kind: Int, Sendable {
        case connect = 0, disconnect, event, ack, connectError, binaryEvent, binaryAck
    }

    public var kind: Kind
    public var namespace: String
    public var id: Int?
    /// The JSON part, placeholders already replaced by `.binary` values where decoded.
    public var data: SocketIOValue?

    public init(_ kind: Kind, namespace: String = "/", id: Int? = nil, data: SocketIOValue? = nil) {
        self.kind = kind
        self.namespace = namespace
        self.id = id
        self.data = data
    }
}

/// JSON extended with binary buffers, as Socket.IO events carry them.
public indirect enum SocketIOValue: Sendable, Equatable {
    case json(JSONValue)
    case binary([UInt8])
    case array([SocketIOValue])
    case object([(key: String, value: SocketIOValue)])

    public static func == (lhs: SocketIOValue, rhs: SocketIOValue) -> Bool {
        switch (lhs, rhs) {
        case (.json(let a), .json(let b)): a == b
        case (.binary(let a), .binary(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    public static func string(_ text: String) -> SocketIOValue { .json(.string(text)) }

    /// Plain JSON when there is no binary inside, else nil.
    public var plainJSON: JSONValue? {
        switch self {
        case .json(let value): return value
        case .binary: return nil
        case .array(let items):
            var result: [JSONValue] = []
            for item in items { guard let value = item.plainJSON else { return nil }; result.append(value) }
            return .array(result)
        case .object(let entries):
            var result = JSONObject()
            for entry in entries { guard let value = entry.value.plainJSON else { return nil }; result[entry.key] = value }
            return .object(result)
        }
    }

    var containsBinary: Bool { plainJSON == nil }

    /// Lifts JSON into the structured form so that placeholders can be replaced at any depth.
    static func lift(_ value: JSONValue) -> SocketIOValue {
        switch value {
        case .array(let items): .array(items.map(lift))
        case .object(let object): .object(object.entries.map { ($0.key, lift($0.value)) })
        default: .json(value)
        }
    }
}

public struct SocketIOParseError: Error, Equatable, Sendable {
    public let reason: String
}

/// Encodes packets for Engine.IO messages and reassembles incoming ones with their attachments.
public enum SocketIOCodec {
    /// The text message and the binary attachments that follow it, in order.
    public static func encode(_ packet: SocketIOPacket) -> (text: String, attachments: [[UInt8]]) {
        var attachments: [[UInt8]] = []
        let json = packet.data.map { deconstruct($0, into: &attachments) }
        var kind = packet.kind
        if !attachments.isEmpty {
            if kind == .event { kind = .binaryEvent }
            if kind == .ack { kind = .binaryAck }
        }
        var text = String(kind.rawValue)
        if kind == .binaryEvent || kind == .binaryAck { text += "\(attachments.count)-" }
        if packet.namespace != "/" { text += packet.namespace + "," }
        if let id = packet.id { text += String(id) }
        if let json { text += JSONWriter.string(json) }
        return (text, attachments)
    }

    private static func deconstruct(_ value: SocketIOValue, into attachments: inout [[UInt8]]) -> JSONValue {
        switch value {
        case .json(let json): return json
        case .binary(let bytes):
            attachments.append(bytes)
            return .object(JSONObject([("_placeholder", .bool(true)), ("num", .int(attachments.count - 1))]))
        case .array(let items): return .array(items.map { deconstruct($0, into: &attachments) })
        case .object(let entries): return .object(JSONObject(entries.map { ($0.key, deconstruct($0.value, into: &attachments)) }))
        }
    }

    /// Parses the text part; `attachments` tells how many binary messages must follow.
    public static func decode(_ text: String) throws(SocketIOParseError) -> (packet: SocketIOPacket, attachments: Int) {
        var rest = Substring(text)
        guard let typeCharacter = rest.first, let typeNumber = typeCharacter.wholeNumberValue,
              let kind = SocketIOPacket.Kind(rawValue: typeNumber) else {
            throw SocketIOParseError(reason: "unknown packet type")
        }
        rest = rest.dropFirst()
        var attachments = 0
        if kind == .binaryEvent || kind == .binaryAck {
            guard let dash = rest.firstIndex(of: "-"), let count = Int(rest[..<dash]), count >= 0 else {
                throw SocketIOParseError(reason: "binary packet without an attachment count")
            }
            attachments = count
            rest = rest[rest.index(after: dash)...]
        }
        var namespace = "/"
        if rest.first == "/" {
            let end = rest.firstIndex(of: ",") ?? rest.endIndex
            namespace = String(rest[..<end])
            rest = end == rest.endIndex ? rest[end...] : rest[rest.index(after: end)...]
        }
        var id: Int?
        let digits = rest.prefix { $0.isASCII && $0.isNumber }
        if !digits.isEmpty {
            guard let number = Int(digits) else { throw SocketIOParseError(reason: "invalid ack id") }
            id = number
            rest = rest.dropFirst(digits.count)
        }
        var data: SocketIOValue?
        if !rest.isEmpty {
            do {
                data = SocketIOValue.lift(try JSONParser.parse(String(rest)))
            } catch {
                throw SocketIOParseError(reason: "invalid JSON payload")
            }
        }
        let packet = SocketIOPacket(kind, namespace: namespace, id: id, data: data)
        try validate(packet)
        return (packet, attachments)
    }

    /// The shapes each packet type must have (the decoder closes connections that break them).
    static func validate(_ packet: SocketIOPacket) throws(SocketIOParseError) {
        switch packet.kind {
        case .connect:
            if let data = packet.data, case .object = data {} else if packet.data != nil {
                throw SocketIOParseError(reason: "CONNECT payload must be an object")
            }
        case .disconnect:
            if packet.data != nil { throw SocketIOParseError(reason: "DISCONNECT carries no payload") }
        case .event, .binaryEvent:
            guard case .array(let items)? = packet.data, let first = items.first, case .json(.string) = first else {
                throw SocketIOParseError(reason: "EVENT payload must be an array starting with the event name")
            }
        case .ack, .binaryAck:
            guard packet.id != nil, case .array? = packet.data else { throw SocketIOParseError(reason: "ACK needs an id and an array") }
        case .connectError:
            break
        }
    }

    /// Replaces placeholders by the received attachments; fails on a missing or repeated one.
    public static func reconstruct(_ value: SocketIOValue, attachments: [[UInt8]]) throws(SocketIOParseError) -> SocketIOValue {
        switch value {
        case .object(let entries):
            if entries.count == 2, let flag = entries.first(where: { $0.key == "_placeholder" })?.value, flag == .json(.bool(true)),
               case .json(.int(let number))? = entries.first(where: { $0.key == "num" })?.value {
                guard attachments.indices.contains(number) else { throw SocketIOParseError(reason: "placeholder \(number) has no attachment") }
                return .binary(attachments[number])
            }
            var result: [(key: String, value: SocketIOValue)] = []
            for entry in entries { result.append((entry.key, try reconstruct(entry.value, attachments: attachments))) }
            return .object(result)
        case .array(let items):
            var result: [SocketIOValue] = []
            for item in items { result.append(try reconstruct(item, attachments: attachments)) }
            return .array(result)
        default:
            return value
        }
    }
}
