package edgeclient

// PacketLost exposes packetLost to the external tests.
var PacketLost = packetLost
