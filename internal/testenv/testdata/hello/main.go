// Command hello is the program TestBuildBinaries builds.
package main

import "fmt"

func main() { fmt.Println("hello") }
