
echo first line blank, no header
