/*
 * main - entry point of pochtad (being written).
 */
int main(void)
{
    return 0;
}
