-- wrk request generator for scripts/bench-ingest: realistic, distinct callbacks (500 rooms, each
-- update newer than the last), so no server can take a shortcut on repeated bodies.
local counter = 0
local path = "/callback?SdkAppid=1400000001&CallbackCommand=Live.CallbackAfterUpdateRoomInfo"
  .. "&contenttype=json&ClientIP=127.0.0.1&OptPlatform=RESTAPI"
local headers = { ["Content-Type"] = "application/json" }

request = function()
  counter = counter + 1
  local body = string.format(
    '{"CallbackCommand":"Live.CallbackAfterUpdateRoomInfo","Operator_Account":"host_%d",'
      .. '"RoomInfo":{"RoomId":"bench_%d_%d","RoomName":"Bench room %d","MaxMemberCount":1000,'
      .. '"IsMessageDisabled":false,"CustomInfo":"{\\"tier\\":3}","TakeSeatMode":"FreeToTake",'
      .. '"IsPublicVisible":true,"CoverURL":"https://cdn.example.com/c/%d.jpg","Category":[3],'
      .. '"ActivityStatus":1},"EventTime":%d}',
    counter % 50, id or 0, counter % 500, counter, counter, 1735690200000 + counter)
  return wrk.format("POST", path, headers, body)
end

-- Each wrk thread gets its own id so rooms differ across threads.
local next_id = 0
setup = function(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
end
