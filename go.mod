module github.com/mqttlb/mqttlb

go 1.26
