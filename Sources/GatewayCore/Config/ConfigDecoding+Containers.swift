import JSON
struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: ValueDecoder
    let object: JSONObject

    var codingPath: [any CodingKey] { decoder.codingPath }
    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    private func note(_ key: Key) { decoder.requestedKeys?.insert(key.stringValue) }

    func contains(_ key: Key) -> Bool {
        note(key)
        return object[key.stringValue] != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        note(key)
        return object[key.stringValue] == nil || object[key.stringValue] == .null
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        note(key)
        guard let value = object[key.stringValue], value != .null else {
            let present = object[key.stringValue] != nil
            decoder.log.report(ConfigPath.format(codingPath + [key]),
                               present ? "must not be null" : "missing required option '\(key.stringValue)'")
            return try ValueDecoder.placeholder(T.self)
        }
        return try decoder.decodeChild(T.self, value: value, codingPath: codingPath + [key])
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        note(key)
        guard let value = object[key.stringValue], value != .null else { return nil }
        let before = decoder.log.problems.count
        let path = codingPath + [key]
        let result = try? decoder.decodeChild(T.self, value: value, codingPath: path)
        // A value reported as wrong itself falls back to the caller's default; one with problems
        // deeper inside is kept, so that checks across sections still see it.
        let pathString = ConfigPath.format(path)
        return decoder.log.problems[before...].contains { $0.path == pathString } ? nil : result
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        note(key)
        return try decoder.child(object[key.stringValue] ?? .null, key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        note(key)
        return try decoder.child(object[key.stringValue] ?? .null, key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        note(key)
        return decoder.child(object[key.stringValue] ?? .null, key)
    }

    // The standard library's per-type overloads funnel into the generic versions above.
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(Wrapper<Bool>.self, forKey: key).value }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decode(Wrapper<String>.self, forKey: key).value }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decode(Wrapper<Double>.self, forKey: key).value }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(Wrapper<Int>.self, forKey: key).value }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? { try decodeIfPresent(Wrapper<Bool>.self, forKey: key)?.value }
    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? { try decodeIfPresent(Wrapper<String>.self, forKey: key)?.value }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? { try decodeIfPresent(Wrapper<Double>.self, forKey: key)?.value }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? { try decodeIfPresent(Wrapper<Int>.self, forKey: key)?.value }
}

/// Routes a primitive through the generic path so that it gets a placeholder on error.
private struct Wrapper<Value: Decodable & ConfigPlaceholder>: Decodable, ConfigPlaceholder {
    let value: Value
    init(from decoder: any Decoder) throws { value = try decoder.singleValueContainer().decode(Value.self) }
    init(value: Value) { self.value = value }
    static var configPlaceholder: Wrapper { Wrapper(value: Value.configPlaceholder) }
}

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: ValueDecoder
    let array: [JSONValue]
    var currentIndex = 0

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, array[currentIndex] == .null else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        guard !isAtEnd else { throw ConfigDecodingAbort() }
        let index = currentIndex
        currentIndex += 1
        do {
            return try decoder.decodeChild(T.self, value: array[index], codingPath: codingPath + [IndexKey(index)])
        } catch {
            // Report the problems of the remaining elements too before giving up on the array.
            while !isAtEnd {
                let next = currentIndex
                currentIndex += 1
                _ = try? decoder.decodeChild(T.self, value: array[next], codingPath: codingPath + [IndexKey(next)])
            }
            throw error
        }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        defer { currentIndex += 1 }
        return try decoder.child(array[currentIndex], IndexKey(currentIndex)).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        defer { currentIndex += 1 }
        return try decoder.child(array[currentIndex], IndexKey(currentIndex)).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        defer { currentIndex += 1 }
        return decoder.child(array[currentIndex], IndexKey(currentIndex))
    }
}

struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: ValueDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }
    private var value: JSONValue { decoder.value }
    /// Strings produced by `${VAR}` expansion may stand for numbers and booleans.
    private var expandedString: String? {
        if case .string(let text) = value, decoder.log.expandedPaths.contains(decoder.pathString) { return text }
        return nil
    }

    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        if case .bool(let flag) = value { return flag }
        if let text = expandedString, let flag = Bool(text) { return flag }
        throw decoder.mismatch("a boolean")
    }

    func decode(_ type: String.Type) throws -> String {
        if case .string(let text) = value { return text }
        throw decoder.mismatch("a string")
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .int(let number): return Double(number)
        case .double(let number): return number
        default:
            if let text = expandedString, let number = Double(text) { return number }
            throw decoder.mismatch("a number")
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    private func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        let number = value.integer ?? expandedString.flatMap { Int($0) }
        guard let number else { throw decoder.mismatch("an integer") }
        guard let result = I(exactly: number) else {
            decoder.log.report(decoder.pathString, "\(number) is out of range for this option")
            throw ConfigDecodingAbort()
        }
        return result
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(UInt64.self) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: decoder) }
}
