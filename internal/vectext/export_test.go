package vectext

// FastFloat32 exposes the fast conversion to the tests, which check it against strconv.
var FastFloat32 = fastFloat32
