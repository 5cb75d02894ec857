package icon

import "fmt"

// PNGName is the file name of state s at size under assets/icons.
func PNGName(s State, size int) string { return fmt.Sprintf("%s-%d.png", s, size) }

// ICOName is the file name of state s's ICO under assets/icons.
func ICOName(s State) string { return string(s) + ".ico" }

// Files renders every state at every size and returns each file's name
// and bytes: the PNGs and one ICO per state.
func Files() (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, s := range States() {
		bySize := map[int][]byte{}
		for _, size := range Sizes() {
			img, err := Render(s, size)
			if err != nil {
				return nil, err
			}
			b, err := PNG(img)
			if err != nil {
				return nil, err
			}
			bySize[size] = b
			files[PNGName(s, size)] = b
		}
		var entries [][]byte
		for _, size := range ICOSizes() {
			entries = append(entries, bySize[size])
		}
		ico, err := ICO(entries)
		if err != nil {
			return nil, err
		}
		files[ICOName(s)] = ico
	}
	return files, nil
}
