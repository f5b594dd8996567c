import Gateway
import GatewayCore
import JSON
import SocketIO
import Testing

@Suite struct JSONParserTests {
    @Test func keepsKeyOrderAndRoundTrips() throws {
        let text = #"{"z":1,"a":[true,false,null],"m":{"k":"v\/\u00e9\n"},"d":-1.5e2}"#
        let value = try JSONParser.parse(text)
        guard case .object(let object) = value else { Issue.record("not an object"); return }
        #expect(object.keys == ["z", "a", "m", "d"])
        #expect(value["d"] == .double(-150))
        #expect(JSONWriter.string(value) == #"{"z":1,"a":[true,false,null],"m":{"k":"v/é\n"},"d":-150}"#)
    }

    @Test(arguments: ["{", "[1,]", #"{"a" 1}"#, "01", #""\x""#, "{\"a\":1,\"a\":2}", "tru", "[1] 2"])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(text) }
    }

    @Test func reportsLineAndColumn() {
        do {
            _ = try JSONParser.parse("{\n  \"a\": 1,\n  \"b\": ?\n}")
            Issue.record("parsed invalid JSON")
        } catch {
            #expect(error.line == 3)
            #expect(error.column == 8)
        }
    }
}
